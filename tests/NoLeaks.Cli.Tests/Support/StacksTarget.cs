using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.Diagnostics.NETCore.Client;

namespace NoLeaks.Cli.Tests.Support;

/// <summary>
/// tests/TestTargets/AsyncStacksTarget running as a child process: 10 channel readers, 3 TaskCompletionSource waiters
/// three methods deep, one thread blocked in a delegate task (with <c>why</c>, one orphaned method more). Killed when disposed.
/// </summary>
internal sealed class StacksTarget : IAsyncDisposable
{
    private readonly Process _process;

    private StacksTarget(Process process) => _process = process;

    /// <summary>The target's process id (a grandchild of this process: see <see cref="StartAsync"/>).</summary>
    public int Pid { get; private set; }

    /// <param name="args">The target's arguments: none for the tests' work, <c>why</c> to add an orphan.</param>
    public static async Task<StacksTarget> StartAsync(params string[] args)
    {
        var path = typeof(StacksTarget).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(a => a.Key == "Target:AsyncStacksTarget").Value!;
        // Started by a shell, not by this process: System.Diagnostics.Process reaps its children's state changes with
        // waitpid, which takes the ptrace stops meant for noleaks (then waiting for them forever) when the traced process
        // is a child of the tracing one. Users do not trace their own children; the tests must not either. The shell
        // hands its standard input on through descriptor 3 (a background job's own is /dev/null).
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec 3<&0; \"$0\" \"$@\" <&3 3<&- & wait");
        start.ArgumentList.Add(DotnetHost);
        start.ArgumentList.Add(path);
        foreach (var argument in args)
        {
            start.ArgumentList.Add(argument);
        }

        var target = new StacksTarget(Process.Start(start)!);
        await target.ReadyAsync();
        return target;
    }

    /// <summary>Starts 100 more channel readers and waits until they are started.</summary>
    public async Task StartMoreReadersAsync()
    {
        await _process.StandardInput.WriteLineAsync("more");
        await _process.StandardInput.FlushAsync();
        await ReadyAsync();
    }

    /// <summary>Writes a dump with the heap (as <c>dotnet-dump collect</c> does) into a file that is deleted with the folder.</summary>
    public string WriteDump(TempFolder folder, string name)
    {
        var path = Path.Combine(folder.Path, name);
        new DiagnosticsClient(Pid).WriteDump(DumpType.WithHeap, path);
        return path;
    }

    private async Task ReadyAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        // The runtime's createdump writes its progress to the target's standard output.
        string? line;
        do
        {
            line = await _process.StandardOutput.ReadLineAsync(timeout.Token);
        }
        while (line is not null && line.StartsWith("[createdump]", StringComparison.Ordinal));

        Assert.StartsWith("ready ", line);
        Pid = int.Parse(line!["ready ".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.Kill(entireProcessTree: true);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }

    /// <summary>The line of the <c>// await: <paramref name="marker"/></c> comment in the target's source.</summary>
    public static int LineOf(string marker)
    {
        var source = Path.Combine(Path.GetDirectoryName(ThisFile())!, "..", "..", "TestTargets", "AsyncStacksTarget", "Program.cs");
        var lines = File.ReadAllLines(source);
        var index = Array.FindIndex(lines, l => l.EndsWith($"// await: {marker}", StringComparison.Ordinal));
        Assert.True(index >= 0, $"no '// await: {marker}' in {source}");
        return index + 1;
    }

    private static string ThisFile([CallerFilePath] string path = "") => path;

    // The host running this process: <root>/shared/Microsoft.NETCore.App/<version>/System.Private.CoreLib.dll.
    internal static string DotnetHost
    {
        get
        {
            var root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
            var host = Path.Combine(root, OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet");
            return File.Exists(host) ? host : "dotnet";
        }
    }
}

/// <summary>A folder under the temporary folder, deleted with what it holds (dumps are large).</summary>
internal sealed class TempFolder : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("noleaks-cli-tests-").FullName;

    public void Dispose() => Directory.Delete(Path, recursive: true);
}

/// <summary>Runs the noleaks command in this process, its output and errors captured.</summary>
internal static class Noleaks
{
    public static (int ExitCode, string Output, string Error) Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = Commands.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }
}
