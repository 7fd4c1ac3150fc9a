using NoLeaks.Reporting;

namespace NoLeaks;

/// <summary>Where in the source an async method is suspended.</summary>
/// <param name="FilePath">The source file, as recorded in the PDB; null when no PDB was found.</param>
/// <param name="Line">The line of the <c>await</c>; 0 when unknown.</param>
/// <param name="State">The compiler's state number: which <c>await</c> of the method it is (0 is the first).</param>
public sealed record AwaitSite(string? FilePath, int Line, int State)
{
    /// <summary>The file name without its folder, or null.</summary>
    public string? FileName => FilePath is null ? null : Path.GetFileName(FilePath.Replace('\\', '/'));

    /// <summary>
    /// <c>/home/me/shop/src/Shop/OrderQueue.cs:42</c> (the full path, which an IDE opens from a test's output; relative
    /// to the repository for a deterministic build's <c>/_/</c> path), or <c>await #N</c> when there is no PDB.
    /// </summary>
    public override string ToString() => FilePath is null ? $"await #{State} (no PDB)" : $"{SourcePaths.Local(FilePath)}:{Line}";
}
