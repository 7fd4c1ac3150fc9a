using System.Collections.Concurrent;

namespace NoLeaks.Reporting;

/// <summary>
/// Source paths as reports show them. The run's reports (console block, JSON, Markdown, annotations) are read in CI and
/// on GitHub: relative to the repository that holds the file (found as Git finds it, by the nearest folder with a
/// <c>.git</c> entry above the file, or <c>GITHUB_WORKSPACE</c>), full otherwise. A test's own report is read in an
/// IDE, which opens a full path from a test's output without knowing which folder a relative one starts from: full.
/// </summary>
internal static class SourcePaths
{
    private static readonly ConcurrentDictionary<string, string?> RootOfFolder = new(StringComparer.Ordinal);

    /// <summary>The path to show for a source file: <c>src/Shop/OrderQueue.cs</c>, or the full path outside a repository.</summary>
    public static string Display(string path)
    {
        if (MappedByDeterministicBuild(path) is { } relative)
        {
            return relative;
        }

        var root = RepositoryRootOf(path);
        return root is null ? path.Replace('\\', '/') : Path.GetRelativePath(root, path).Replace('\\', '/');
    }

    /// <summary>
    /// The path a test's report shows: the full path as the PDB records it, which an IDE opens from the test's output;
    /// relative to the repository for a deterministic build's <c>/_/</c> path, which names no file on this machine.
    /// </summary>
    public static string Local(string path) => MappedByDeterministicBuild(path) ?? path;

    // A deterministic build (ContinuousIntegrationBuild) maps the repository root to /_/ in the PDB.
    private static string? MappedByDeterministicBuild(string path)
    {
        var normal = path.Replace('\\', '/');
        return normal.StartsWith("/_/", StringComparison.Ordinal) ? normal["/_/".Length..] : null;
    }

    /// <summary>The repository root holding <paramref name="path"/>, or null.</summary>
    public static string? RepositoryRootOf(string path)
    {
        try
        {
            if (!Path.IsPathFullyQualified(path) || Path.GetDirectoryName(path) is not { } folder)
            {
                return null;
            }

            return RootOfFolder.GetOrAdd(folder, static folder =>
            {
                for (var current = folder; current is not null; current = Path.GetDirectoryName(current))
                {
                    // A worktree or a submodule has a .git file, a clone a .git folder.
                    if (Directory.Exists(Path.Combine(current, ".git")) || File.Exists(Path.Combine(current, ".git")))
                    {
                        return current;
                    }
                }

                return Environment.GetEnvironmentVariable("GITHUB_WORKSPACE") is { Length: > 0 } workspace
                    && IsUnder(folder, Path.GetFullPath(workspace)) ? Path.GetFullPath(workspace) : null;
            });
        }
        catch (Exception)
        {
            // A path the file system rejects is shown as it is.
            return null;
        }
    }

    private static bool IsUnder(string folder, string root) =>
        folder.Length >= root.Length && folder.StartsWith(root, OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal)
        && (folder.Length == root.Length || folder[root.Length] is '/' or '\\' || root.EndsWith('/') || root.EndsWith('\\'));
}
