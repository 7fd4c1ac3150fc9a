using System.Reflection;

namespace NoLeaks.Heap.Tests;

/// <summary>This process tests the heap source alone: runtime task tracking must never be on here.</summary>
public class TrackingStaysOffTests
{
    [Fact]
    public void Runtime_task_tracking_is_off_in_this_process()
    {
        var field = typeof(Task).GetField("s_asyncDebuggingEnabled", BindingFlags.Static | BindingFlags.NonPublic);
        Assert.NotNull(field);
        Assert.False((bool)field.GetValue(null)!, "something started runtime task tracking in the heap test process");
    }
}
