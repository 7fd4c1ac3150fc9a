namespace NoLeaks.Heap;

/// <summary>
/// A cheap check, made with the heap's own safe reader, before a word read from the heap is handed to the runtime's data
/// access layer as a method table. A walk hands it words that are not method tables: an allocation context handed out
/// after the walk began, or memory a GC moves while the walk reads it. On .NET 8 the data access layer crashed the
/// process on such a word (SIGSEGV inside it, under parallel heap tests); it is asked only about words whose parent
/// chain leads to <c>System.Object</c>.
/// </summary>
internal sealed partial class ProcessHeap
{
    /// <summary>The longest parent chain followed (System.Object is reached in far fewer steps by any real type).</summary>
    private const int MaxParentChain = 64;

    /// <summary>
    /// Offset of <c>MethodTable.m_pParentMethodTable</c>, probed when the heap is opened; -1 when the probe failed,
    /// and then every word goes to the data access layer as before (RuntimeLayoutTests fail loudly on such a runtime).
    /// </summary>
    internal int ParentOffset { get; private set; } = -1;

    private ulong _objectMethodTable;
    private ulong _freeMethodTable;

    /// <summary>
    /// Finds the parent pointer's offset from three method tables the data access layer has named: String's and
    /// Exception's parent is Object, Object has none.
    /// </summary>
    private void ProbeMethodTableLayout()
    {
        try
        {
            var heap = _runtime.Heap;
            ulong objectType = heap.ObjectType.MethodTable, stringType = heap.StringType.MethodTable, exceptionType = heap.ExceptionType.MethodTable;
            _freeMethodTable = heap.FreeType.MethodTable;
            for (var offset = 8; offset <= 0x40; offset += 8)
            {
                if (ParentAt(stringType, offset) == objectType && ParentAt(exceptionType, offset) == objectType
                    && _reader.Read(objectType + (ulong)offset, out ulong objectParent) && objectParent == 0)
                {
                    _objectMethodTable = objectType;
                    ParentOffset = offset;
                    return;
                }
            }
        }
        catch (Exception)
        {
            // Not probed: the data access layer judges every word alone.
        }
    }

    private ulong ParentAt(ulong methodTable, int offset) =>
        _reader.Read(methodTable + (ulong)offset, out ulong parent) ? parent : 0;

    /// <summary>
    /// True when <paramref name="methodTable"/> may be a method table: its parents lead to System.Object, or to a
    /// method table already validated, within <see cref="MaxParentChain"/> steps. Only reads through the safe reader.
    /// Called under the types' lock.
    /// </summary>
    internal bool LooksLikeMethodTable(ulong methodTable)
    {
        var offset = ParentOffset;
        if (offset < 0 || methodTable == _freeMethodTable)
        {
            return true;
        }

        var current = methodTable;
        for (var step = 0; step < MaxParentChain; step++)
        {
            if (current == _objectMethodTable || (step > 0 && _types.ContainsKey(current)))
            {
                return true;
            }

            if (!_reader.Read(current + (ulong)offset, out ulong parent) || parent < 0x10000 || (parent & 7) != 0)
            {
                return false;
            }

            current = parent;
        }

        return false;
    }
}
