using System.Runtime.CompilerServices;

namespace NoLeaks.Tests.Tracking;

/// <summary>
/// Starts the shared engine before any test runs. Tests that build their own tracking source switch the runtime's
/// tracking on; had one of them run first, the runtime would have created its dictionary and the shared engine
/// would have had to fall back to the event listener, making the hook's test depend on test order.
/// </summary>
internal static class SharedEngineFirst
{
    [ModuleInitializer]
    internal static void Start() => LeakScope.Begin("NoLeaks.Tests module initializer").Dispose();
}
