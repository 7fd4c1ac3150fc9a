using System.Collections.Concurrent;

namespace NoLeaks.Reporting;

/// <summary>
/// Source paths as reports show them: relative to the repository that holds the file (found as Git finds it, by the
/// nearest folder with a <c>.git</c> entry above the file, or <c>GITHUB_WORKSPACE</c>), full otherwise.
/// </summary>
internal static class SourcePaths
{
    private static readonly ConcurrentDictionary<string, string?> RootOfFolder = new(StringComparer.Ordinal);

    /// <summary>The path to show for a source file: <c>src/Shop/OrderQueue.cs</c>, or the full path outside a repository.</summary>
    public static string Display(string path)
    {
        var normal = path.Replace('\\', '/');

        // A deterministic build (ContinuousIntegrationBuild) maps the repository root to /_/ in the PDB.
        if (normal.StartsWith("/_/", StringComparison.Ordinal))
        {
            return normal["/_/".Length..];
        }

        var root = RepositoryRootOf(path);
        return root is null ? normal : Path.GetRelativePath(root, path).Replace('\\', '/');
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
