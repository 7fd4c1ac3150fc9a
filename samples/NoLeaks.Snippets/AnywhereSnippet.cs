namespace NoLeaks.Snippets.Anywhere;

public class AnywhereSnippet
{
    public async Task Check_by_hand()
    {
        await LeakDetector.VerifyNoneAsync(async () => { /* … */ });   // throws TaskLeakException on a leak

        var scope = LeakScope.Begin("OrderTests.Saves_order");         // what the adapters do for each test
        // … the test …
        LeakReport report = await scope.EndAsync();
        report.ThrowIfFailed();
    }
}
