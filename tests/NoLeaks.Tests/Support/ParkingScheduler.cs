namespace NoLeaks.Tests.Support;

/// <summary>Keeps what is queued to it until told to run it, like a context whose loop has not run (or has ended).</summary>
internal sealed class ParkingScheduler : TaskScheduler
{
    private readonly List<Task> _parked = [];

    public void RunAll()
    {
        List<Task> parked;
        lock (_parked)
        {
            parked = [.. _parked];
            _parked.Clear();
        }

        parked.ForEach(task => TryExecuteTask(task));
    }

    protected override void QueueTask(Task task)
    {
        lock (_parked)
        {
            _parked.Add(task);
        }
    }

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

    protected override IEnumerable<Task> GetScheduledTasks()
    {
        lock (_parked)
        {
            return [.. _parked];
        }
    }
}
