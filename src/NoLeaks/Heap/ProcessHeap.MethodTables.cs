namespace NoLeaks.Heap;

/// <summary>
/// A cheap check, made with the heap's own safe reader, before a word read from the heap is handed to the runtime's data
/// access layer as a method table. A walk hands it words that are not method tables: an allocation context handed out
/// after the walk began, or memory a GC moves while the walk reads it. The data access layer of .NET 8 and 9 crashes the
/// process on some such words (SIGSEGV inside it): it checks a method table by following its class to the class's
/// method table and back, and dereferences a null pointer where that class's method table pointer is null. So a word
/// goes to it only when its parent chain leads to <c>System.Object</c> and its class points back to it (or, for a
/// generic instantiation or an array, to a method table of the same class), every pointer on the way non-null and read
/// through the same safe reader.
/// </summary>
internal sealed partial class ProcessHeap
{
    /// <summary>The longest parent chain followed (System.Object is reached in far fewer steps by any real type).</summary>
    private const int MaxParentChain = 64;

    /// <summary>What the data access layer copies of a method table (x64 and arm64, .NET 8 – 11): read whole first.</summary>
    private const int MethodTableBytes = 64;

    /// <summary>
    /// Offset of <c>MethodTable.m_pParentMethodTable</c>, probed when the heap is opened; -1 when the probe failed,
    /// and then the parent chain is not checked (RuntimeLayoutTests fail loudly on such a runtime).
    /// </summary>
    internal int ParentOffset { get; private set; } = -1;

    /// <summary>
    /// Offset of <c>MethodTable.m_pEEClass</c> (a union with <c>m_pCanonMT</c>, low bit set: the canonical method table,
    /// whose own field holds the class; .NET Core 2.0 – 11) and of <c>EEClass.m_pMethodTable</c> in the class, probed
    /// when the heap is opened; -1 when the probe failed, and then the class is not checked (RuntimeLayoutTests fail
    /// loudly on such a runtime).
    /// </summary>
    internal (int Class, int ClassMethodTable) ClassOffsets { get; private set; } = (-1, -1);

    private ulong _objectMethodTable;
    private ulong _freeMethodTable;

    /// <summary>
    /// Finds the parent pointer's offset from three method tables the data access layer has named: String's and
    /// Exception's parent is Object, Object has none; then the class pointer's offset and the class's method table
    /// pointer's offset: the pair with which each of the three leads to its class and back to itself.
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
                    break;
                }
            }

            for (var classOffset = 8; classOffset < MethodTableBytes && ClassOffsets.Class < 0; classOffset += 8)
            {
                for (var back = 0; back <= 0x40; back += 8)
                {
                    if (ClassLeadsBack(objectType, classOffset, back) && ClassLeadsBack(stringType, classOffset, back)
                        && ClassLeadsBack(exceptionType, classOffset, back))
                    {
                        ClassOffsets = (classOffset, back);
                        break;
                    }
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

    private bool ClassLeadsBack(ulong methodTable, int classOffset, int back) =>
        _reader.Read(methodTable + (ulong)classOffset, out ulong eeClass) && eeClass >= 0x10000 && (eeClass & 7) == 0
        && _reader.Read(eeClass + (ulong)back, out ulong pointsTo) && pointsTo == methodTable;

    /// <summary>
    /// True when <paramref name="methodTable"/> may be a method table: its parents lead to System.Object, or to a
    /// method table already validated, within <see cref="MaxParentChain"/> steps, and its class points back to it.
    /// Only reads through the safe reader. Called under the types' lock.
    /// </summary>
    internal bool LooksLikeMethodTable(ulong methodTable) =>
        methodTable == _freeMethodTable || (ParentsLeadToObject(methodTable) && ClassPointsBack(methodTable));

    private bool ParentsLeadToObject(ulong methodTable)
    {
        var offset = ParentOffset;
        if (offset < 0)
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

    /// <summary>
    /// The data access layer's own check of a method table (MethodTable::ValidateWithPossibleAV), made first with the
    /// safe reader: the word's class points back to it, or, as a generic instantiation's or an array's class does, to a
    /// method table whose class is the same. A word that is no method table (the second field of some object 16 bytes
    /// before it is a method table's address, which the parent chain alone takes) fails here instead of in the data
    /// access layer.
    /// </summary>
    private bool ClassPointsBack(ulong methodTable)
    {
        var (classOffset, back) = ClassOffsets;
        if (classOffset < 0)
        {
            return true;
        }

        var eeClass = ClassOf(methodTable, classOffset);
        if (eeClass == 0 || !_reader.Read(eeClass + (ulong)back, out ulong pointsTo) || pointsTo < 0x10000 || (pointsTo & 7) != 0)
        {
            return false;
        }

        return pointsTo == methodTable || ClassOf(pointsTo, classOffset) == eeClass;
    }

    /// <summary>The class a method table's union names, through the canonical method table when tagged; 0 when unreadable.</summary>
    private ulong ClassOf(ulong methodTable, int classOffset)
    {
        Span<byte> whole = stackalloc byte[MethodTableBytes];
        if (_reader.Read(methodTable, whole) != MethodTableBytes || !_reader.Read(methodTable + (ulong)classOffset, out ulong value))
        {
            return 0;
        }

        if ((value & 3) == 1)
        {
            // m_pCanonMT: the class is the canonical method table's.
            var canonical = value & ~3UL;
            if (canonical < 0x10000 || _reader.Read(canonical, whole) != MethodTableBytes
                || !_reader.Read(canonical + (ulong)classOffset, out value))
            {
                return 0;
            }
        }

        return value >= 0x10000 && (value & 7) == 0 ? value : 0;
    }
}
