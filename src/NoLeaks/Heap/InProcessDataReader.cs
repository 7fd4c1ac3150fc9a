using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Heap;

/// <summary>
/// ClrMD's view of this very process on Linux. Memory is read with <c>process_vm_readv</c> on the own pid, so an
/// unmapped or protected address is a short read instead of a crash; where a seccomp profile refuses that call, it
/// falls back to <c>pread</c> on <c>/proc/self/mem</c>. Modules come from <c>/proc/self/maps</c>. No thread contexts
/// are given, so ClrMD sees no stack roots.
/// </summary>
internal sealed unsafe class InProcessDataReader : ByteDataReader
{
    private const int PageSize = 4096;
    private const int EPERM = 1;
    private const int ENOSYS = 38;
    private const int NoFallback = -1;
    private const int FallbackFailed = int.MinValue;

    private readonly int _pid = Environment.ProcessId;
    private ImmutableArray<ModuleInfo>? _modules;
    private int _procMemFd = NoFallback;

    public override string DisplayName => $"self:{_pid}";

    public override bool IsThreadSafe => true;

    public override OSPlatform TargetPlatform => OSPlatform.Linux;

    public override Architecture Architecture => RuntimeInformation.ProcessArchitecture;

    public override int ProcessId => _pid;

    public override int PointerSize => IntPtr.Size;

    /// <summary>Reads that came back short (an unreadable page), for diagnostics.</summary>
    public long FailedReads;

    /// <summary>True once process_vm_readv was refused and /proc/self/mem is read instead.</summary>
    public bool UsesProcSelfMem => _procMemFd != NoFallback;

    /// <summary>Test hook: plays a process whose memory cannot be read at all.</summary>
    public bool RefuseReads { get; set; }

    public override IEnumerable<ModuleInfo> EnumerateModules() => _modules ??= LoadModules();

    private ImmutableArray<ModuleInfo> LoadModules()
    {
        // "start-end perms offset dev inode path": a file mapped several times is one module whose base is its
        // lowest mapping of file offset 0.
        var baseByPath = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            var parts = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 6)
            {
                continue;
            }

            var path = parts[5].Trim();
            if (path.Length == 0 || path[0] != '/' || path.EndsWith(" (deleted)", StringComparison.Ordinal)
                || ulong.Parse(parts[2], NumberStyles.HexNumber, CultureInfo.InvariantCulture) != 0)
            {
                continue;
            }

            var start = ulong.Parse(parts[0][..parts[0].IndexOf('-')], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (!baseByPath.TryGetValue(path, out var existing) || start < existing)
            {
                baseByPath[path] = start;
            }
        }

        var modules = ImmutableArray.CreateBuilder<ModuleInfo>(baseByPath.Count);
#if !CLRMD3
        var limits = new DataTargetLimits();
#endif
        foreach (var (path, start) in baseByPath.OrderBy(kv => kv.Value))
        {
            try
            {
#if CLRMD3
                if (ModuleInfo.TryCreate(this, start, path) is { } module)
#else
                if (ModuleInfo.TryCreate(this, start, path, limits) is { } module)
#endif
                {
                    modules.Add(module);
                }
            }
            catch (Exception)
            {
                // Not an image ClrMD understands (fonts, locale archives …).
            }
        }

        return modules.ToImmutable();
    }

    public override bool GetThreadContext(uint threadID, uint contextFlags, Span<byte> context) => false;

    public override void FlushCachedData()
    {
        // Nothing cached: memory is read live every time, and the modules of interest never move.
    }

    public override int Read(ulong address, Span<byte> buffer)
    {
        if (buffer.IsEmpty || RefuseReads)
        {
            return 0;
        }

        var read = ReadCore(address, buffer);
        if (read == buffer.Length)
        {
            return read;
        }

        // Short read: the range crosses an unreadable page. Return the readable prefix, page by page.
        var total = Math.Max(read, 0);
        while (total < buffer.Length)
        {
            var at = address + (ulong)total;
            var chunk = (int)Math.Min((ulong)(buffer.Length - total), PageSize - (at % PageSize));
            var got = ReadCore(at, buffer.Slice(total, chunk));
            if (got <= 0)
            {
                break;
            }

            total += got;
            if (got < chunk)
            {
                break;
            }
        }

        Interlocked.Increment(ref FailedReads);
        return total;
    }

    private int ReadCore(ulong address, Span<byte> buffer)
    {
        fixed (byte* target = buffer)
        {
            if (_procMemFd == NoFallback)
            {
                var local = new IoVec { Base = target, Length = (nuint)buffer.Length };
                var remote = new IoVec { Base = (void*)address, Length = (nuint)buffer.Length };
                var read = process_vm_readv(_pid, &local, 1, &remote, 1, 0);
                if (read >= 0)
                {
                    return (int)read;
                }

                var errno = Marshal.GetLastPInvokeError();
                if (errno != EPERM && errno != ENOSYS)
                {
                    return -1;
                }

                // A seccomp profile that forbids process_vm_readv (some containers): read /proc/self/mem instead.
                var fd = open("/proc/self/mem", 0);
                _procMemFd = fd < 0 ? FallbackFailed : fd;
            }

            if (_procMemFd == FallbackFailed)
            {
                return -1;
            }

            var n = pread(_procMemFd, target, (nuint)buffer.Length, (long)address);
            return n < 0 ? -1 : (int)n;
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [DllImport("libc", SetLastError = true)]
    private static extern nint process_vm_readv(int pid, IoVec* localIov, nuint localCount, IoVec* remoteIov, nuint remoteCount, nuint flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPStr)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint pread(int fd, byte* buffer, nuint count, long offset);
}
