using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace NoLeaks.Tests;

/// <summary>
/// The README's C# blocks are compiled code: each must appear, line for line (indentation aside), in a file of
/// samples/NoLeaks.Snippets, which the solution builds.
/// </summary>
public partial class ReadmeSnippetTests
{
    [Fact]
    public void Every_csharp_block_of_the_readme_is_compiled_in_the_snippets_project()
    {
        var root = RepositoryRoot();
        var blocks = CSharpBlocks().Matches(File.ReadAllText(Path.Combine(root, "README.md")))
            .Select(match => Lines(match.Groups["code"].Value))
            .ToList();
        var files = Directory.GetFiles(Path.Combine(root, "samples", "NoLeaks.Snippets"), "*.cs")
            .Select(file => (Name: Path.GetFileName(file), Lines: Lines(File.ReadAllText(file))))
            .ToList();

        Assert.NotEmpty(blocks);
        Assert.All(blocks, block => Assert.True(
            files.Any(file => Contains(file.Lines, block)),
            "README block not found in samples/NoLeaks.Snippets:\n" + string.Join('\n', block)));
    }

    [Fact]
    public void A_block_that_differs_is_not_found()
    {
        var file = Lines("a\n  b\nc\n");

        Assert.True(Contains(file, ["b", "c"]));
        Assert.False(Contains(file, ["b", "x"]));
        Assert.False(Contains(file, ["c", "d"]));
    }

    private static bool Contains(IReadOnlyList<string> file, IReadOnlyList<string> block)
    {
        for (var start = 0; start + block.Count <= file.Count; start++)
        {
            if (block.Select((line, i) => file[start + i] == line).All(same => same))
            {
                return true;
            }
        }

        return false;
    }

    private static List<string> Lines(string text) =>
        [.. text.Replace("\r", "", StringComparison.Ordinal).Split('\n').Select(line => line.Trim()).Where(line => line.Length > 0)];

    [GeneratedRegex(@"```csharp\n(?<code>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlocks();

    private static string RepositoryRoot([CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));
}
