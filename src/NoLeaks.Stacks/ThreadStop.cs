using System.Runtime.InteropServices;

namespace NoLeaks.Stacks;

/// <summary>
/// One thread of another process held stopped while its stack is read, the others left running: <c>PTRACE_SEIZE</c>
/// and <c>PTRACE_INTERRUPT</c> stop that thread alone (an attach's SIGSTOP would stop the whole process), and disposing
/// detaches it, handing back a signal that arrived while it was held. Only the thread that stopped it may read its
/// registers (ptrace is per tracer thread): ClrMD's reader must be called on the same thread. If this process dies
/// while holding it, the kernel detaches it.
/// </summary>
internal sealed class ThreadStop : IDisposable
{
    private const int PTRACE_DETACH = 17;
    private const int PTRACE_SEIZE = 0x4206;
    private const int PTRACE_INTERRUPT = 0x4207;
    private const int PTRACE_EVENT_STOP = 128;
    private const int WALL = 0x40000000;
    private const int EPERM = 1;
    private const int EINTR = 4;

    private readonly int _tid;
    private readonly int _signal;

    private ThreadStop(int tid, int signal) => (_tid, _signal) = (tid, signal);

    /// <summary>
    /// Stops the thread <paramref name="tid"/>; null when it cannot be stopped: it has exited, or tracing it is refused
    /// (<paramref name="refused"/>: EPERM, as on a machine that does not let this process trace the test process).
    /// </summary>
    public static ThreadStop? Of(uint tid, out bool refused)
    {
        var id = (int)tid;
        refused = false;
        if (ptrace(PTRACE_SEIZE, id, 0, 0) < 0)
        {
            refused = Marshal.GetLastPInvokeError() == EPERM;
            return null;
        }

        if (ptrace(PTRACE_INTERRUPT, id, 0, 0) < 0)
        {
            _ = ptrace(PTRACE_DETACH, id, 0, 0);
            return null;
        }

        int status;
        int waited;
        do
        {
            waited = waitpid(id, out status, WALL);
        }
        while (waited < 0 && Marshal.GetLastPInvokeError() == EINTR);

        if (waited != id)
        {
            // The wait failed: let it go, in case it stops later (a thread stopped for a tracer that never resumes it
            // would stand still until this process exits).
            _ = ptrace(PTRACE_DETACH, id, 0, 0);
            return null;
        }

        // Not stopped (WIFSTOPPED: the low byte is 0x7f): it exited or was killed, nothing is left to read or detach.
        if ((status & 0xff) != 0x7f)
        {
            return null;
        }

        // A stop: either the interrupt's (an event stop, which carries no signal of the thread's own), or a signal that
        // arrived first (signal-delivery-stop), which the thread must get back when it is let go — the runtime's own
        // signals among them (a GC suspending threads sends one).
        var stopSignal = (status >> 8) & 0xff;
        var signal = (status >> 16) == PTRACE_EVENT_STOP ? 0 : stopSignal;
        return new ThreadStop(id, signal);
    }

    /// <summary>Lets the thread go on, with the signal it was stopped by if it was one of its own.</summary>
    public void Dispose() => _ = ptrace(PTRACE_DETACH, _tid, 0, _signal);

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SA1300, IDE1006 // the C functions' names
    private static extern nint ptrace(int request, int pid, nint addr, nint data);

    [DllImport("libc", SetLastError = true)]
    private static extern int waitpid(int pid, out int status, int options);
#pragma warning restore SA1300, IDE1006
}

/// <summary>
/// Every thread of a process held stopped, each by a <see cref="ThreadStop"/> of its own (the process is not sent
/// SIGSTOP): listed from <c>/proc/&lt;pid&gt;/task</c>, listed again until no new thread appears (three times at most).
/// </summary>
internal sealed class ProcessStop(Dictionary<uint, ThreadStop> stops) : IStoppedProcess
{
    /// <summary>Stops every thread of <paramref name="pid"/> that can be stopped; counts those stopped and refused.</summary>
    public static ProcessStop Of(int pid, ref int stopped, ref int refused)
    {
        var stops = new Dictionary<uint, ThreadStop>();
        for (var listing = 0; listing < 3; listing++)
        {
            var found = false;
            foreach (var tid in Tasks(pid))
            {
                if (stops.ContainsKey(tid))
                {
                    continue;
                }

                found = true;
                if (ThreadStop.Of(tid, out var wasRefused) is { } stop)
                {
                    stops[tid] = stop;
                    stopped++;
                }

                refused += wasRefused ? 1 : 0;
            }

            if (!found)
            {
                break;
            }
        }

        return new ProcessStop(stops);
    }

    private static IEnumerable<uint> Tasks(int pid)
    {
        string[] entries;
        try
        {
            entries = Directory.GetDirectories($"/proc/{pid}/task");
        }
        catch (IOException)
        {
            yield break;
        }

        foreach (var entry in entries)
        {
            if (uint.TryParse(Path.GetFileName(entry), out var tid))
            {
                yield return tid;
            }
        }
    }

    public IDisposable? Hold(uint osThreadId) => stops.Remove(osThreadId, out var stop) ? stop : null;

    public void Dispose()
    {
        foreach (var stop in stops.Values)
        {
            stop.Dispose();
        }

        stops.Clear();
    }
}
