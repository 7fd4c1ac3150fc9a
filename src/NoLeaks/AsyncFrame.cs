namespace NoLeaks;

/// <summary>One async method in a logical async stack.</summary>
/// <param name="Method">The method as a reader names it: <c>OrderQueue.PumpAsync</c>.</param>
/// <param name="FullName">The full name filters match: <c>Shop.OrderQueue.PumpAsync</c>.</param>
/// <param name="AwaitSite">Where it is suspended; null when it is not suspended at an await.</param>
public sealed record AsyncFrame(string Method, string FullName, AwaitSite? AwaitSite)
{
    /// <summary>
    /// True when this frame is a <c>ContinueWith</c> continuation of the frame below it in the stack: it runs when that
    /// one completes, it does not <c>await</c> it.
    /// </summary>
    public bool IsContinuation { get; init; }

    /// <summary>
    /// The full name with what the display name says of a lambda or local function:
    /// <c>Shop.OrderTests.Saves_order (lambda)</c>. A pattern of this form matches that lambda only.
    /// </summary>
    public string QualifiedMethod
    {
        get
        {
            var suffix = Method.EndsWith(')') ? Method.LastIndexOf(" (", StringComparison.Ordinal) : -1;
            return suffix < 0 ? FullName : FullName + Method[suffix..];
        }
    }

    /// <summary>Which compiled code the frame is (state machine type or delegate method): two lambdas of one method differ.</summary>
    internal string? Code { get; init; }

    /// <summary><c>Method at /home/me/shop/src/Shop/OrderQueue.cs:42</c> (see <see cref="NoLeaks.AwaitSite.ToString"/>).</summary>
    public override string ToString() => AwaitSite is null ? Method : $"{Method} at {AwaitSite}";
}
