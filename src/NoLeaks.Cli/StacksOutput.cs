using System.Globalization;
using System.Text.Json;

namespace NoLeaks.Cli;

/// <summary>Prints readings as text, JSON (version 1) or folded stacks.</summary>
internal static class StacksOutput
{
    private static readonly CultureInfo Invariant = CultureInfo.InvariantCulture;

    public static void WriteText(StacksReading reading, bool each, TextWriter output)
    {
        var operations = reading.Stacks.Sum(s => s.Count);
        output.WriteLine(
            $"{reading.Target}, .NET {reading.RuntimeVersion}: {Count(operations, "pending async operation")}"
            + (each ? "" : $" in {Count(reading.Stacks.Count, "stack")}")
            + $" ({reading.Objects.ToString("N0", Invariant)} objects read in {Seconds(reading.Elapsed)}"
            + (reading.Unreadable > 0 ? $", {reading.Unreadable.ToString("N0", Invariant)} unreadable places skipped" : "")
            + (reading.Suspended is { } suspended ? $", the process suspended for {Seconds(suspended)})" : ")"));
        foreach (var stack in reading.Stacks)
        {
            output.WriteLine();
            var header = each ? $"{Identity(stack)}: " : $"{stack.Count} × ";
            output.WriteLine($"{header}{Kind(stack)}waiting on {stack.WaitingOn}");
            foreach (var frame in stack.AwaitChain)
            {
                output.WriteLine($"    {(frame.IsContinuation ? "then " : "")}{frame.Method}{(frame.AwaitSite is { } site ? $"  {site}" : "")}");
            }

            if (reading.WhyBudget is not null)
            {
                // The words of the test reports' "held by" and "verdict" lines.
                output.WriteLine($"    held by  {stack.RetentionPath ?? "unknown"}");
                output.WriteLine($"    verdict  {stack.Verdict ?? "none: it awaits nothing a search could find"}");
            }
        }
    }

    public static void WriteFolded(StacksReading reading, TextWriter output)
    {
        // Root first, the innermost method last, then what it waits on: a flame graph stacks them bottom-up.
        foreach (var stack in reading.Stacks)
        {
            var frames = stack.AwaitChain.Reverse()
                .Select(f => f.AwaitSite is { FileName: { } file } site ? $"{f.Method} ({file}:{site.Line})" : f.Method)
                .Append($"waiting on {stack.WaitingOn}")
                .Select(f => f.Replace(';', ','));
            output.WriteLine($"{string.Join(';', frames)} {stack.Count}");
        }
    }

    public static void WriteJson(StacksReading reading, TextWriter output)
    {
        Json(output, json =>
        {
            json.WriteStartObject();
            json.WriteNumber("version", 1);
            WriteReading(json, reading);
            json.WriteEndObject();
        });
    }

    public static void WriteText(StacksReading before, StacksReading after, List<StackGrowth> growth, TextWriter output)
    {
        var added = growth.Sum(g => g.After - g.Before);
        output.WriteLine(growth.Count == 0
            ? $"no stack grew from the first reading of {before.Target} to the second of {after.Target}"
            : $"{Count(growth.Count, "stack")} grew from the first reading of {before.Target} to the second of {after.Target} (+{Count(added, "operation")})");
        foreach (var (stack, was, now) in growth)
        {
            output.WriteLine();
            output.WriteLine($"+{now - was} ({was} → {now}) {Kind(stack)}waiting on {stack.WaitingOn}");
            foreach (var frame in stack.AwaitChain)
            {
                output.WriteLine($"    {(frame.IsContinuation ? "then " : "")}{frame.Method}{(frame.AwaitSite is { } site ? $"  {site}" : "")}");
            }
        }
    }

    public static void WriteJson(StacksReading before, StacksReading after, List<StackGrowth> growth, TextWriter output)
    {
        Json(output, json =>
        {
            json.WriteStartObject();
            json.WriteNumber("version", 1);
            json.WriteString("before", before.Target);
            json.WriteString("after", after.Target);
            json.WriteStartArray("grew");
            foreach (var (stack, was, now) in growth)
            {
                json.WriteStartObject();
                json.WriteNumber("before", was);
                json.WriteNumber("after", now);
                WriteStack(json, stack, each: false);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        });
    }

    private static void WriteReading(Utf8JsonWriter json, StacksReading reading)
    {
        json.WriteString("target", reading.Target);
        json.WriteString("runtime", reading.RuntimeVersion);
        json.WriteNumber("objects", reading.Objects);
        json.WriteNumber("unreadable", reading.Unreadable);
        json.WriteNumber("elapsedMs", Math.Round(reading.Elapsed.TotalMilliseconds));
        if (reading.Suspended is { } suspended)
        {
            json.WriteNumber("suspendedMs", Math.Round(suspended.TotalMilliseconds));
        }
        else
        {
            json.WriteNull("suspendedMs");
        }

        if (reading.WhyBudget is { } budget)
        {
            json.WriteNumber("whyBudgetMs", Math.Round(budget.TotalMilliseconds));
        }

        json.WriteStartArray("warnings");
        foreach (var warning in reading.Warnings)
        {
            json.WriteStringValue(warning);
        }

        json.WriteEndArray();
        json.WriteStartArray("stacks");
        foreach (var stack in reading.Stacks)
        {
            json.WriteStartObject();
            json.WriteNumber("count", stack.Count);
            WriteStack(json, stack, each: reading.Each);
            if (reading.WhyBudget is not null)
            {
                json.WriteString("heldBy", stack.RetentionPath);
                json.WriteString("verdict", stack.Verdict);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void WriteStack(Utf8JsonWriter json, TaskLeak stack, bool each)
    {
        json.WriteString("kind", stack.Kind.ToString());
        json.WriteString("waitingOn", stack.WaitingOn);
        if (each && stack.Operations.FirstOrDefault() is { } operation)
        {
            json.WriteString("address", operation.Keys.FirstOrDefault()?.ToString());
            if (operation.TaskId != 0)
            {
                json.WriteNumber("taskId", operation.TaskId);
            }
        }

        json.WriteStartArray("frames");
        foreach (var frame in stack.AwaitChain)
        {
            json.WriteStartObject();
            json.WriteString("method", frame.Method);
            json.WriteString("fullName", frame.FullName);
            if (frame.IsContinuation)
            {
                json.WriteBoolean("continuation", true);
            }

            if (frame.AwaitSite is { } site)
            {
                json.WriteString("file", site.FilePath);
                json.WriteNumber("line", site.Line);
                json.WriteNumber("state", site.State);
            }

            json.WriteEndObject();
        }

        json.WriteEndArray();
    }

    private static void Json(TextWriter output, Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            write(json);
        }

        output.WriteLine(System.Text.Encoding.UTF8.GetString(buffer.ToArray()));
    }

    private static string Identity(TaskLeak stack) =>
        stack.Operations.FirstOrDefault() is { } operation
            ? $"{operation.Keys.FirstOrDefault()}{(operation.TaskId != 0 ? $" (task {operation.TaskId})" : "")}"
            : "operation";

    private static string Kind(TaskLeak stack) => stack.Kind switch
    {
        LeakKind.DelegateTask when stack.IsRunning => "a running delegate task, ",
        LeakKind.DelegateTask => "a delegate task, ",
        LeakKind.Continuation or LeakKind.DormantContinuation => "a continuation, ",
        _ => "",
    };

    private static string Count(int count, string noun) => $"{count.ToString("N0", Invariant)} {noun}{(count == 1 ? "" : "s")}";

    private static string Seconds(TimeSpan time) => $"{time.TotalSeconds.ToString("0.00", Invariant)} s";
}
