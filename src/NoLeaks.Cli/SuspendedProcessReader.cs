using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;
using Microsoft.Diagnostics.Runtime.DataReaders.Implementation;
using NoLeaks.Heap;

namespace NoLeaks.Cli;

/// <summary>
/// The memory of a process that stays suspended while it is read, through a <see cref="PageCache"/>. ClrMD's reader of a
/// live process makes one system call (<c>process_vm_readv</c>) per read, and reading the pending operations makes tens
/// of thousands of small reads (a task's fields, the type of what it awaits, the runtime's data structures read by its
/// data access library) on a few hundred pages. A suspended process's memory does not change: a page read once stays
/// true until the process is let go. Everything else (modules, threads' registers) is ClrMD's reader's.
/// </summary>
internal sealed class SuspendedProcessReader : ByteDataReader, IThreadReader, IDisposable
{
    private readonly DataTarget _attached;
    private readonly IDataReader _process;
    private readonly PageCache _pages;

    /// <summary>Reads through <paramref name="attached"/> (attached and suspended), which this reader owns from now on.</summary>
    public SuspendedProcessReader(DataTarget attached)
    {
        _attached = attached;
        _process = attached.DataReader;
        _pages = new PageCache(_process.Read);
    }

    public override string DisplayName => _process.DisplayName;

    public override bool IsThreadSafe => true;

    public override OSPlatform TargetPlatform => _process.TargetPlatform;

    public override Architecture Architecture => _process.Architecture;

    public override int ProcessId => _process.ProcessId;

    public override int PointerSize => _process.PointerSize;

    public override IEnumerable<ModuleInfo> EnumerateModules() => _process.EnumerateModules();

    public override bool GetThreadContext(uint threadID, uint contextFlags, Span<byte> context) =>
        _process.GetThreadContext(threadID, contextFlags, context);

    public IEnumerable<uint> EnumerateOSThreadIds() => _process is IThreadReader threads ? threads.EnumerateOSThreadIds() : [];

    public ulong GetThreadTeb(uint osThreadId) => _process is IThreadReader threads ? threads.GetThreadTeb(osThreadId) : 0;

    public override void FlushCachedData()
    {
        // The process has not run since it was suspended: the pages kept are still its memory.
    }

    public override int Read(ulong address, Span<byte> buffer) => _pages.Read(address, buffer);

    /// <summary>Detaches from the process, which runs again.</summary>
    public void Dispose()
    {
        _pages.Clear();
        _attached.Dispose();
    }
}
