using System.Globalization;

// Started as NoLeaks.Stacks is: `dotnet exec … FailingStackReader.dll <pid> <dac path>`, "go" on standard input.
// The file <temp>/noleaks-failing-reader-<pid> holds "<count> <how>": how the next <count> runs fail, each taking one
// off: "crash" ends with SIGABRT's exit code (as a fault in the runtime's data access library ends the real child),
// "unnamed" answers with a thread none of whose frames is named, "empty" answers with no thread, "throws" ends as
// NoLeaks.Stacks does when its read failed with an exception (exit code 4), "refused" as when the attach was refused. When none is left, the
// run answers with one thread with one named frame. Each run appends a line to the file's ".runs" companion: its
// arguments after the DAC path.
// With --statics (`… <pid> <dac path> --statics <ms> all|only <module> …`) it writes one static slot, at the address
// the file's third word gives (hex), and one module line; "hang" then waits to be killed instead of ending.
var pid = int.Parse(args[0], CultureInfo.InvariantCulture);
_ = Console.In.ReadLine();
var counter = Path.Combine(Path.GetTempPath(), $"noleaks-failing-reader-{pid}");
File.AppendAllText(counter + ".runs", "run " + string.Join(' ', args.Skip(2)) + "\n");
var order = File.ReadAllText(counter).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
var left = int.Parse(order[0], CultureInfo.InvariantCulture);
var how = order.Length > 1 ? order[1] : "crash";
if (args.Length > 2 && args[2] == "--statics")
{
    Console.Out.Write($"slot\t{order[2]}\tstatic Stand.In\nmodule\tM.dll\n");
    Console.Out.Flush();
    if (left > 0 && how == "hang")
    {
        File.WriteAllText(counter, $"{left - 1} {how} {order[2]}");
        Thread.Sleep(Timeout.Infinite);
    }

    return;
}

if (left > 0)
{
    File.WriteAllText(counter, $"{left - 1} {how}");
    switch (how)
    {
        case "crash":
            // The exit code of a process killed by SIGABRT (128 + 6), as the parent sees it, without aborting: an abort
            // would write a crash dump wherever the test run asks for them (build/test-net8.sh does: 70 MB each).
            Environment.Exit(134);
            break;
        case "unnamed":
            Console.Out.Write("""{"threads":[{"managedId":7,"osId":1234,"preemptive":true,"taskIds":[],"frames":[{"runtime":"InlinedCallFrame"}]}]}""");
            return;
        case "empty":
            Console.Out.Write("""{"threads":[]}""");
            return;
        case "throws":
            Console.Error.WriteLine("NullReferenceException: Object reference not set to an instance of an object.");
            Environment.Exit(4);
            break;
        case "refused":
            Console.Error.WriteLine("UnauthorizedAccessException: attaching to the test process was refused: Operation not permitted");
            Environment.Exit(1);
            break;
    }
}

Console.Out.Write("""{"threads":[{"managedId":7,"osId":1234,"preemptive":true,"taskIds":[],"frames":[{"module":"M.dll","token":100663297,"il":3,"method":"Blocker.Wait"}]}]}""");
