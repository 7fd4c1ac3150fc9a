using System.Reflection;
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
        Assert.Equal($"AwaitSiteResolverTests.cs:{second.Line}", second.ToString());
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

    private static async Task TwoAwaitsAsync(Task a, Task b)
    {
        await a; // @first-await
        await b; // @second-await
    }
}
