namespace NoLeaks;

/// <summary>Where a scope looks for pending work.</summary>
public enum LeakSource
{
    /// <summary>Runtime task tracking when the runtime offers it, otherwise the heap.</summary>
    Auto,

    /// <summary>The runtime's task tracking: cheap, sees work created from the first scope on.</summary>
    Tracking,

    /// <summary>A snapshot of the GC heap when the scope begins and another when it ends.</summary>
    Heap,
}
