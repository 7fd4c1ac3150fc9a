using System.Runtime.CompilerServices;

namespace NoLeaks.Tests.Support;

/// <summary>Finds the line of a marker comment in a test's own source, so assertions name lines without hard-coding them.</summary>
internal static class SourceLine
{
    /// <summary>The 1-based line that holds <c>// @marker</c> in the calling file.</summary>
    public static int Of(string marker, [CallerFilePath] string file = "")
    {
        var lines = File.ReadAllLines(file);
        var tag = "// @" + marker;
        var matches = Enumerable.Range(0, lines.Length).Where(i => lines[i].TrimEnd().EndsWith(tag, StringComparison.Ordinal)).ToList();
        Assert.True(matches.Count == 1, $"expected exactly one line ending with '{tag}' in {file}, found {matches.Count}");
        return matches[0] + 1;
    }

    /// <summary><c>/full/path/File.cs:N</c>, as a test's report prints the line that holds <c>// @marker</c>.</summary>
    public static string At(string marker, [CallerFilePath] string file = "") => $"{file}:{Of(marker, file)}";
}
