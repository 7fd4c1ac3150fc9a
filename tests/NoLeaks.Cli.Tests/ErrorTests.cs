using System.Diagnostics;
using System.Globalization;
using NoLeaks.Cli.Tests.Support;

namespace NoLeaks.Cli.Tests;

/// <summary>Every failure is one line on stderr, with its documented exit code, never a stack trace.</summary>
public sealed partial class ErrorTests
{
    [Fact]
    public void A_process_that_does_not_exist_is_exit_code_3()
    {
        var (code, _, error) = Noleaks.Run("stacks", "999999999");

        AssertOneLine(ExitCodes.NotDotNet, "noleaks: there is no process 999999999", code, error);
    }

    [Fact(Timeout = 60_000)]
    public async Task A_process_without_a_dotnet_runtime_is_exit_code_3()
    {
        // A grandchild, as the target of the other tests (StacksTarget says why): the shell prints its pid.
        var start = new ProcessStartInfo("/bin/sh") { RedirectStandardOutput = true, UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("sleep 60 & echo $!; wait");
        using var shell = Process.Start(start)!;
        try
        {
            var pid = int.Parse((await shell.StandardOutput.ReadLineAsync(TestContext.Current.CancellationToken))!);

            // Until the forked shell has exec'd sleep, the process is still named sh.
            while (File.ReadAllText($"/proc/{pid}/comm").Trim() != "sleep")
            {
                await Task.Delay(10, TestContext.Current.CancellationToken);
            }

            var (code, _, error) = Noleaks.Run("stacks", pid.ToString());

            AssertOneLine(ExitCodes.NotDotNet, $"noleaks: process {pid} (sleep) is not a .NET process (no .NET runtime is loaded in it)", code, error);
        }
        finally
        {
            shell.Kill(entireProcessTree: true);
            await shell.WaitForExitAsync(TestContext.Current.CancellationToken);
        }
    }

    [Fact(Timeout = 120_000)]
    public async Task A_process_this_user_may_not_trace_is_exit_code_4_with_the_way_to_be_allowed()
    {
        // noleaks runs as nobody (setpriv), the target as this user: the kernel refuses the attach (ptrace EPERM).
        if (!OperatingSystem.IsLinux() || Environment.UserName != "root" || !File.Exists(Setpriv))
        {
            Assert.Skip($"needs Linux, root and {Setpriv}, to run noleaks as another user (this run: {Environment.UserName})");
        }

        var cancel = TestContext.Current.CancellationToken;
        await using var target = await StacksTarget.StartAsync();

        // The tool's files where nobody can read them (a checkout's folders may be private to their owner).
        var copy = Path.Combine(Path.GetTempPath(), $"noleaks-cli-as-nobody-{Environment.ProcessId}");
        var readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead
            | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        Directory.CreateDirectory(copy, readable);
        try
        {
            foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory))
            {
                File.Copy(file, Path.Combine(copy, Path.GetFileName(file)), overwrite: true);
                File.SetUnixFileMode(Path.Combine(copy, Path.GetFileName(file)), readable);
            }

            var start = new ProcessStartInfo(Setpriv) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var argument in new[]
            {
                "--reuid=65534", "--regid=65534", "--clear-groups", "--", StacksTarget.DotnetHost, "exec",
                "--runtimeconfig", Path.Combine(copy, "NoLeaks.Cli.Tests.runtimeconfig.json"),
                "--depsfile", Path.Combine(copy, "NoLeaks.Cli.deps.json"),
                Path.Combine(copy, "NoLeaks.Cli.dll"), "stacks", target.Pid.ToString(CultureInfo.InvariantCulture),
            })
            {
                start.ArgumentList.Add(argument);
            }

            start.Environment["HOME"] = Path.GetTempPath();
            start.Environment["DOTNET_CLI_HOME"] = Path.GetTempPath();
            using var tool = Process.Start(start)!;
            var output = tool.StandardOutput.ReadToEndAsync(cancel);
            var error = await tool.StandardError.ReadToEndAsync(cancel);
            await tool.WaitForExitAsync(cancel);

            Assert.True(tool.ExitCode == ExitCodes.PermissionDenied, $"exit code {tool.ExitCode}; stdout: {await output}; stderr: {error}");
            error = WithoutProgress(error); // a slow start prints "reading … 1 s" first
            Assert.StartsWith($"noleaks: attaching to process {target.Pid} (AsyncStacksTarget) was refused (", error);
            Assert.Contains("run noleaks as the user the process runs as", error);
            Assert.Contains("kernel.yama.ptrace_scope", error);
            Assert.Contains("CAP_SYS_PTRACE", error);
            AssertOneLine(tool.ExitCode, error);
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    private const string Setpriv = "/usr/bin/setpriv";

    [Theory(Timeout = 30_000)]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_read_longer_than_a_second_says_how_long_it_took_only_when_it_succeeded(bool succeeded)
    {
        // About time itself: the indicator prints its first line after a second.
        var output = new StringWriter();
        using (var progress = Progress.Start(output, "process 42 (Shop)"))
        {
            while (!output.ToString().Contains("noleaks: reading process 42 (Shop)… ", StringComparison.Ordinal))
            {
                await Task.Delay(50, TestContext.Current.CancellationToken);
            }

            if (succeeded)
            {
                progress.Succeeded();
            }
        }

        var lines = output.ToString().TrimEnd().Split('\n');
        Assert.Equal(succeeded, lines[^1].StartsWith("noleaks: read process 42 (Shop) in ", StringComparison.Ordinal));
        Assert.All(lines.SkipLast(succeeded ? 1 : 0), line => Assert.Matches(ProgressLine(), line));
    }

    [Fact]
    public void A_file_that_is_not_a_dump_is_exit_code_5()
    {
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "notes.txt");
        File.WriteAllText(path, "not a dump");

        var (code, _, error) = Noleaks.Run("stacks", path);

        Assert.Equal(ExitCodes.UnreadableDump, code);
        Assert.StartsWith($"noleaks: {path} is not a dump noleaks can read", error);
        AssertOneLine(code, error);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_truncated_dump_is_exit_code_5()
    {
        using var folder = new TempFolder();
        string dump;
        await using (var target = await StacksTarget.StartAsync())
        {
            dump = target.WriteDump(folder, "whole.dmp");
        }

        var truncated = Path.Combine(folder.Path, "truncated.dmp");
        using (var source = File.OpenRead(dump))
        using (var destination = File.Create(truncated))
        {
            var half = new byte[source.Length / 2];
            source.ReadExactly(half);
            destination.Write(half);
        }

        var (code, _, error) = Noleaks.Run("stacks", truncated);

        Assert.Equal(ExitCodes.UnreadableDump, code);
        Assert.Contains("truncated.dmp", error);
        AssertOneLine(code, error);
    }

    [Theory]
    [InlineData("stacks")]
    [InlineData("stacks", "1", "2")]
    [InlineData("stacks", "1", "--json", "--folded")]
    [InlineData("stacks", "1", "--bogus")]
    [InlineData("diff", "a.dmp")]
    [InlineData("diff", "a.dmp", "--interval", "10s")]
    [InlineData("ps", "1")]
    [InlineData("stacks", "no-such-file.dmp")]
    public void A_usage_error_is_exit_code_2(params string[] args)
    {
        var (code, _, error) = Noleaks.Run(args);

        AssertOneLine(ExitCodes.Usage, null, code, error);
    }

    [Fact]
    public void Help_prints_every_command_and_the_exit_codes_and_succeeds()
    {
        var output = new StringWriter();

        Assert.Equal(ExitCodes.Success, Commands.Help(output));
        Assert.Contains("noleaks stacks <pid | dump file>", output.ToString());
        Assert.Contains("Exit codes: 0 done", output.ToString());
    }

    [Fact]
    public void Ps_lists_the_dotnet_processes_this_user_may_read_with_their_runtime_version()
    {
        using var sleeper = Process.Start(new ProcessStartInfo("sleep", "60") { UseShellExecute = false })!;
        try
        {
            var (code, output, error) = Noleaks.Run("ps");

            Assert.True(code == 0, error);
            var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Matches(@"^\s+PID\s+RUNTIME\s+NAME$", lines[0]);
            Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith($"{sleeper.Id} ", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith($"{Environment.ProcessId} ", StringComparison.Ordinal));
        }
        finally
        {
            sleeper.Kill();
        }
    }

    [Fact(Timeout = 60_000)]
    public async Task Ps_lists_a_running_dotnet_process()
    {
        await using var target = await StacksTarget.StartAsync();

        var (code, output, error) = Noleaks.Run("ps");

        Assert.True(code == 0, error);
        Assert.Contains(output.Split('\n'), l => System.Text.RegularExpressions.Regex.IsMatch(l, $@"^\s*{target.Pid}\s+\d+\.\d+\.\d+\S*\s+AsyncStacksTarget$"));
    }

    private static void AssertOneLine(int expectedCode, string? expectedLine, int code, string error)
    {
        error = WithoutProgress(error);
        Assert.Equal(expectedCode, code);
        if (expectedLine is not null)
        {
            Assert.Equal(expectedLine, error.TrimEnd());
        }

        AssertOneLine(code, error);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^noleaks: reading .*… \d+ s\r?$")]
    private static partial System.Text.RegularExpressions.Regex ProgressLine();

    // A read that takes more than a second also prints progress lines first (on a loaded machine, even these reads).
    private static string WithoutProgress(string error) =>
        string.Join('\n', error.Split('\n').Where(line => !ProgressLine().IsMatch(line)));

    private static void AssertOneLine(int code, string error)
    {
        error = WithoutProgress(error);
        Assert.True(error.TrimEnd().Split('\n').Length == 1, $"exit code {code}, more than one line: {error}");
        Assert.DoesNotContain("   at ", error);
    }
}
