using NoLeaks.Sdk;
using NoLeaks.Tracking;

namespace NoLeaks.Tests.Sdk;

public class LeakCheckWarmUpTests
{
    [Fact(Timeout = 10_000)]
    public async Task Warm_up_starts_the_engine_in_the_background_and_leaves_no_scope_behind()
    {
        LeakCheckWarmUp.StartInBackground();
        LeakCheckWarmUp.StartInBackground();
        await LeakCheckWarmUp.Completion.WaitAsync(TestContext.Current.CancellationToken);

        Assert.Null(LeakScope.Current);
        Assert.Null(((TrackingSource)LeakEngine.Tracking.Source).CreationEventsUnavailable);
        Assert.True(RuntimeTaskTracking.Probe().IsAvailable);
    }
}
