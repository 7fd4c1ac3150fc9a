namespace NoLeaks.NUnit.Fixtures;

/// <summary>Background work that runs until it is cancelled, as a service's loop would.</summary>
public static class Pumps
{
    public static async Task RunUntilCancelledAsync(CancellationToken token)
    {
        try
        {
            while (true)
            {
                await Task.Delay(5, token);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped: the expected end.
        }
    }
}
