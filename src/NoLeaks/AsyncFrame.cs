namespace NoLeaks;

/// <summary>One async method in a logical async stack.</summary>
/// <param name="Method">The method as a reader names it: <c>OrderQueue.PumpAsync</c>.</param>
/// <param name="FullName">The full name filters match: <c>Shop.OrderQueue.PumpAsync</c>.</param>
/// <param name="AwaitSite">Where it is suspended; null when it is not suspended at an await.</param>
public sealed record AsyncFrame(string Method, string FullName, AwaitSite? AwaitSite)
{
    /// <summary><c>Method at File.cs:42</c>.</summary>
    public override string ToString() => AwaitSite is null ? Method : $"{Method} at {AwaitSite}";
}
