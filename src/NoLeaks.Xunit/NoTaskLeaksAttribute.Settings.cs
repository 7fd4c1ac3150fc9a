using System.Reflection;
using NoLeaks.Sdk;
using NoLeaks.Xunit.Sdk;

namespace NoLeaks.Xunit;

// The settings half of [NoTaskLeaks], compiled into both the xunit v2 and the xunit v3 adapter.
public sealed partial class NoTaskLeaksAttribute : ILeakCheckSettings
{
    // The engine starts when the attribute is first seen, on a pool thread, so that the first test does not pay for it.
    static NoTaskLeaksAttribute() => LeakCheckWarmUp.StartInBackground();

    /// <summary>How long to wait, after the test and its disposal, for its work to finish, in milliseconds; default 1 s (or the suite configuration's), at most 60 s.</summary>
    public int GracePeriodMilliseconds { get; set; } = -1;

    /// <summary>Async methods allowed to outlive the test: full names <c>Namespace.Type.Method</c>, <c>*</c> as a wildcard.</summary>
    public string[]? IgnoreAsyncMethods { get; set; }

    /// <summary>What a leak does: fail the test (default, unless a suite configuration says otherwise), warn, or nothing. <c>NOLEAKS_ACTION</c> overrides it.</summary>
    public LeakAction Action { get => _action ?? LeakAction.Fail; set => _action = value; }

    /// <summary>Records where each async operation was created (about 20 µs per async operation); default false.</summary>
    public bool CaptureCreationStacks { get => _captureCreationStacks ?? false; set => _captureCreationStacks = value; }

    // Null until set: a suite configuration's default holds where the attribute says nothing.
    private LeakAction? _action;
    private bool? _captureCreationStacks;

    LeakAction? ILeakCheckSettings.ActionIfSet => _action;

    bool? ILeakCheckSettings.CaptureCreationStacksIfSet => _captureCreationStacks;

    // Fallback when the after-disposal hook is not installed (another test framework or fixture took its place, or
    // xunit v3 3.x, which has none): the first [NoTaskLeaks] to run Before checks the test, in its After, before the
    // test class is disposed.
    private void BeginFallbackCheck(string testName, Type testClass, MethodInfo method, int timeLimitMilliseconds, Action<string> warn)
    {
        if (XunitLeakCheck.Current is null)
        {
            XunitLeakCheck.Begin(testName, testClass, method, timeLimitMilliseconds, owner: this, out var warning);
            if (warning is not null)
            {
                warn(warning);
            }
        }
    }

    private XunitLeakOutcome EndFallbackCheck() =>
        XunitLeakCheck.Current is { } check && ReferenceEquals(check.Owner, this) ? check.End(testAlreadyFailed: false) : XunitLeakOutcome.Clean;
}
