using System.Diagnostics;

namespace NoLeaks.Cli;

/// <summary>A .NET process this user may read: its id, name and runtime version.</summary>
internal sealed record DotNetProcess(int Id, string Name, string RuntimeVersion);

/// <summary>Names processes and finds the .NET ones (<c>noleaks ps</c>).</summary>
internal static class ProcessNames
{
    private static readonly string[] RuntimeFiles = ["libcoreclr.so", "coreclr.dll", "libcoreclr.dylib"];

    /// <summary>
    /// Every process whose modules this user may list (on Linux, a process whose memory map the OS lets this user read:
    /// the same user, or root) and that has loaded the .NET runtime; this process left out.
    /// </summary>
    public static List<DotNetProcess> DotNetProcesses()
    {
        var found = new List<DotNetProcess>();
        foreach (var process in Process.GetProcesses())
        {
            using (process)
            {
                if (process.Id == Environment.ProcessId || RuntimeVersionOf(process) is not { } version)
                {
                    continue;
                }

                found.Add(new DotNetProcess(process.Id, Of(process), version));
            }
        }

        return [.. found.OrderBy(p => p.Id)];
    }

    /// <summary>The version of the .NET runtime a process loaded (the name of the runtime's folder), or null.</summary>
    private static string? RuntimeVersionOf(Process process)
    {
        try
        {
            foreach (ProcessModule module in process.Modules)
            {
                if (RuntimeFiles.Contains(module.ModuleName, StringComparer.OrdinalIgnoreCase))
                {
                    return Path.GetFileName(Path.GetDirectoryName(module.FileName)) ?? "?";
                }
            }
        }
        catch (Exception)
        {
            // Exited, or not this user's to read.
        }

        return null;
    }

    /// <summary>The process's name; for the <c>dotnet</c> host, the app it runs (<c>dotnet Shop.Api.dll</c> is Shop.Api).</summary>
    public static string Of(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return Of(process);
        }
        catch (Exception)
        {
            return "?";
        }
    }

    private static string Of(Process process)
    {
        var name = process.ProcessName;
        if (name == "dotnet" && OperatingSystem.IsLinux())
        {
            try
            {
                var arguments = File.ReadAllText($"/proc/{process.Id}/cmdline").Split('\0');
                if (arguments.Skip(1).FirstOrDefault(a => a.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) is { } app)
                {
                    return Path.GetFileNameWithoutExtension(app);
                }
            }
            catch (Exception)
            {
                // Not readable: the host's name.
            }
        }

        return name;
    }
}
