using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;

namespace NoLeaks.Heap;

/// <summary>
/// A reader of a process's memory for ClrMD whose values (<c>Read&lt;T&gt;</c>, <c>ReadPointer</c>) are read as bytes by
/// <see cref="Read(ulong, Span{byte})"/>: a value is read whole, or not at all (false, default).
/// </summary>
internal abstract class ByteDataReader : IDataReader
{
    public abstract string DisplayName { get; }

    public abstract bool IsThreadSafe { get; }

    public abstract OSPlatform TargetPlatform { get; }

    public abstract Architecture Architecture { get; }

    public abstract int ProcessId { get; }

    public abstract int PointerSize { get; }

    public abstract IEnumerable<ModuleInfo> EnumerateModules();

    public abstract bool GetThreadContext(uint threadID, uint contextFlags, Span<byte> context);

    public abstract void FlushCachedData();

    public abstract int Read(ulong address, Span<byte> buffer);

    public bool Read<T>(ulong address, out T value)
        where T : unmanaged
    {
        value = default;
        var bytes = MemoryMarshal.AsBytes(MemoryMarshal.CreateSpan(ref value, 1));
        if (Read(address, bytes) == bytes.Length)
        {
            return true;
        }

        value = default;
        return false;
    }

    public T Read<T>(ulong address)
        where T : unmanaged => Read(address, out T value) ? value : default;

    public bool ReadPointer(ulong address, out ulong value)
    {
        var ok = Read(address, out nuint read);
        value = read;
        return ok;
    }

    public ulong ReadPointer(ulong address) => ReadPointer(address, out var value) ? value : 0;
}
