using NoLeaks.Tests.Support;

namespace NoLeaks.Tests.Tracking;

/// <summary>
/// An async method that awaits while a TaskScheduler of the user's is current resumes through a task the runtime queues
/// to that scheduler (TaskSchedulerAwaitTaskContinuation): the method's next step, reported as the method.
/// </summary>
public class SchedulerResumptionTests
{
    private const int TestTimeout = 30_000;

    [Fact(Timeout = TestTimeout)]
    public async Task Method_waiting_for_its_scheduler_to_resume_it_is_reported_as_the_method()
    {
        var scheduler = new HoldingScheduler();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var report = await Scopes.CheckAsync("held by its scheduler", async () =>
        {
            // Started on the scheduler, so the method's await resumes through it; the scheduler then holds that step.
            scheduler.RunsTasks = true;
            _ = Task.Factory.StartNew(() => ResumeOnSchedulerAsync(gate.Task), CancellationToken.None, TaskCreationOptions.None, scheduler);
            scheduler.RunsTasks = false;
            gate.SetResult();
            await scheduler.Held.WaitAsync(TestContext.Current.CancellationToken);
        });

        scheduler.RunHeld();
        Assert.DoesNotContain(report.Leaks, leak => leak.Method.Contains("TaskSchedulerAwaitTaskContinuation", StringComparison.Ordinal));
        Assert.Equal("SchedulerResumptionTests.ResumeOnSchedulerAsync", Scopes.Single(report).Method);
    }

    private static async Task ResumeOnSchedulerAsync(Task gate)
    {
        await gate;
        await Task.Yield();
    }

    /// <summary>Runs tasks at once while told to, and holds them otherwise, as a busy or stopped scheduler does.</summary>
    private sealed class HoldingScheduler : TaskScheduler
    {
        private readonly List<Task> _held = [];
        private readonly TaskCompletionSource _firstHeld = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public volatile bool RunsTasks;

        public Task Held => _firstHeld.Task;

        public void RunHeld()
        {
            Task[] held;
            lock (_held)
            {
                held = [.. _held];
                _held.Clear();
            }

            foreach (var task in held)
            {
                TryExecuteTask(task);
            }
        }

        protected override void QueueTask(Task task)
        {
            if (RunsTasks)
            {
                TryExecuteTask(task);
                return;
            }

            lock (_held)
            {
                _held.Add(task);
            }

            _firstHeld.TrySetResult();
        }

        protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => RunsTasks && TryExecuteTask(task);

        protected override IEnumerable<Task> GetScheduledTasks()
        {
            lock (_held)
            {
                return [.. _held];
            }
        }
    }
}
