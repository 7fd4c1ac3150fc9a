namespace NoLeaks.TestTargets;

/// <summary>Async work compiled with an embedded PDB.</summary>
public static class EmbeddedPdbWork
{
    /// <summary>Waits for <paramref name="gate"/>: line 9 holds the await.</summary>
    public static async Task WaitAsync(Task gate)
    {
        await gate;
    }
}
