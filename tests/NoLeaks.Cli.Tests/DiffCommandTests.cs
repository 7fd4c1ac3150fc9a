using System.Text.Json;
using NoLeaks.Cli.Tests.Support;

namespace NoLeaks.Cli.Tests;

public sealed class DiffCommandTests
{
    [Fact(Timeout = 180_000)]
    public async Task Diff_of_two_dumps_shows_the_stack_that_grew_and_only_it()
    {
        using var folder = new TempFolder();
        await using var target = await StacksTarget.StartAsync();
        var before = target.WriteDump(folder, "before.dmp");
        await target.StartMoreReadersAsync();
        var after = target.WriteDump(folder, "after.dmp");

        var (code, output, error) = Noleaks.Run("diff", before, after, "--json");

        Assert.True(code == 1, $"exit code {code}: {error}");
        using var json = JsonDocument.Parse(output);
        var grew = Assert.Single(json.RootElement.GetProperty("grew").EnumerateArray());
        Assert.Equal(10, grew.GetProperty("before").GetInt32());
        Assert.Equal(110, grew.GetProperty("after").GetInt32());
        var frame = Assert.Single(grew.GetProperty("frames").EnumerateArray());
        Assert.Equal("Readers.ReadLoopAsync", frame.GetProperty("method").GetString());
        Assert.Equal(StacksTarget.LineOf("reader"), frame.GetProperty("line").GetInt32());

        var (sameCode, sameOutput, _) = Noleaks.Run("diff", after, after);
        Assert.Equal(0, sameCode);
        Assert.StartsWith("no stack grew", sameOutput);
    }

    [Fact]
    public void Interval_takes_seconds_milliseconds_and_minutes()
    {
        Assert.Equal(TimeSpan.FromSeconds(10), Commands.Options.ParseInterval("10s"));
        Assert.Equal(TimeSpan.FromMilliseconds(500), Commands.Options.ParseInterval("500ms"));
        Assert.Equal(TimeSpan.FromMinutes(2), Commands.Options.ParseInterval("2m"));
        Assert.Equal(TimeSpan.FromSeconds(1.5), Commands.Options.ParseInterval("1.5"));
        Assert.Equal(ExitCodes.Usage, Assert.Throws<CommandException>(() => Commands.Options.ParseInterval("soon")).ExitCode);
    }

    [Fact(Timeout = 120_000)]
    public async Task Interval_reads_a_live_process_twice()
    {
        await using var target = await StacksTarget.StartAsync();

        var (code, output, error) = Noleaks.Run("diff", target.Pid.ToString(), "--interval", "100ms");

        Assert.True(code == 0, $"exit code {code}: {error}");
        Assert.StartsWith($"no stack grew from the first reading of process {target.Pid}", output);
        Assert.Contains("reading it again in 0.1 s", error);
    }
}
