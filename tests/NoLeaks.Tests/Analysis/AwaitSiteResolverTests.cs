using System.Reflection;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using NoLeaks.Analysis;
using NoLeaks.Tests.Support;

namespace NoLeaks.Tests.Analysis;

public class AwaitSiteResolverTests
{
    [Fact]
    public void Each_state_maps_to_its_own_await_line()
    {
        var type = typeof(AwaitSiteResolverTests).GetNestedTypes(BindingFlags.NonPublic).Single(t => t.Name.StartsWith("<TwoAwaitsAsync>", StringComparison.Ordinal));

        var first = AwaitSiteResolver.Shared.Resolve(type, 0);
        var second = AwaitSiteResolver.Shared.Resolve(type, 1);

        Assert.Equal(SourceLine.Of("first-await"), first.Line);
        Assert.Equal(SourceLine.Of("second-await"), second.Line);
        Assert.Equal("AwaitSiteResolverTests.cs", first.FileName);
        Assert.Equal(SourceLine.At("second-await"), second.ToString());
    }

    [Fact]
    public void A_pdb_embedded_in_its_assembly_gives_file_and_line_even_with_a_stale_pdb_beside_it()
    {
        var assembly = typeof(NoLeaks.TestTargets.EmbeddedPdbWork).Assembly;
        // The build puts a stale PDB (another assembly's) beside it, as old build outputs and copied folders do.
        Assert.True(File.Exists(Path.ChangeExtension(assembly.Location, ".pdb")), "the stale PDB beside the test target is missing");
        var type = assembly.GetTypes().Single(t => t.Name.StartsWith("<WaitAsync>", StringComparison.Ordinal));

        var site = AwaitSiteResolver.Shared.Resolve(type, 0);

        Assert.Equal($"{EmbeddedPdbWork}:9", site.ToString());
    }

    [Fact(Timeout = 30_000)]
    public async Task A_leak_in_a_library_with_an_embedded_pdb_is_reported_at_its_line()
    {
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("embedded pdb", async () => { _ = NoLeaks.TestTargets.EmbeddedPdbWork.WaitAsync(never.Task); });

        never.SetResult();
        Assert.Equal($"{EmbeddedPdbWork}:9", Scopes.Single(report).AwaitSite!.ToString());
    }

    [Fact]
    public void Without_a_pdb_the_site_is_the_state_number()
    {
        // The shared framework ships without PDBs.
        var type = typeof(ChannelReader<int>).Assembly.GetTypes().First(t => t.Name.StartsWith("<ReadAllAsync>", StringComparison.Ordinal));

        var site = AwaitSiteResolver.Shared.Resolve(type, 0);

        Assert.Null(site.FilePath);
        Assert.Equal("await #0 (no PDB)", site.ToString());
    }

    [Fact]
    public void A_state_out_of_range_is_answered_without_a_line()
    {
        var type = typeof(AwaitSiteResolverTests).GetNestedTypes(BindingFlags.NonPublic).Single(t => t.Name.StartsWith("<TwoAwaitsAsync>", StringComparison.Ordinal));

        Assert.Equal(0, AwaitSiteResolver.Shared.Resolve(type, 7).Line);
        Assert.Equal(0, AwaitSiteResolver.Shared.Resolve(type, -1).Line);
    }

    // A report prints the full path the PDB records: the library's source file in this repository.
    private static string EmbeddedPdbWork => SourceFile(Path.Combine("TestTargets", "EmbeddedPdbLibrary", "EmbeddedPdbWork.cs"));

    private static string SourceFile(string underTests, [CallerFilePath] string here = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", "..", underTests));

    private static async Task TwoAwaitsAsync(Task a, Task b)
    {
        await a; // @first-await
        await b; // @second-await
    }
}
