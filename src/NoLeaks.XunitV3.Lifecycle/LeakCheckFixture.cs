using System.Collections.Concurrent;
using NoLeaks.Sdk;
using Xunit;
using Xunit.v3;

namespace NoLeaks.Xunit.Sdk;

/// <summary>
/// The assembly fixture that checks tests marked <c>[NoTaskLeaks]</c> on xunit v3 4.0 or later: it begins before the test
/// class is created and ends after the test class is disposed.
/// </summary>
/// <remarks>
/// The check begins in the synchronous notification (its scope must flow into the test through the execution context,
/// which an async notification's changes do not) and ends in the asynchronous one: xunit awaits it, so the grace period
/// does not hold the thread the test ended on. A test can end inside code that is still running — a continuation that
/// completed what the test awaited — and that code, and whatever waits for it, finishes while the check waits.
/// </remarks>
public sealed class LeakCheckFixture : INotifyTestLifecycle, INotifyTestLifecycleAsync, INotifyTestCollectionLifecycle, INotifyTestAssemblyLifecycle
{
    private readonly ConcurrentDictionary<IXunitTest, XunitLeakCheck> _checks = new(ReferenceEqualityComparer.Instance);

    // The fixtures that may hold work handed over by tests, by the unique id of the collection or assembly whose end
    // notification is the first one after their disposal (xunit notifies a class's end before disposing its fixtures).
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<LeakOwner, byte>> _owners = new(StringComparer.Ordinal);

    /// <summary>Creates the fixture; with <c>[assembly: NoTaskLeaks]</c> it starts the engine ahead of the first test.</summary>
    public LeakCheckFixture()
    {
        try
        {
            if (TestContext.Current.TestAssembly is IXunitTestAssembly { Assembly: var assembly }
                && assembly.IsDefined(typeof(NoTaskLeaksAttribute), inherit: false))
            {
                NoLeaks.Sdk.LeakCheckWarmUp.StartInBackground();
            }
        }
        catch (Exception)
        {
            // The first checked test starts the engine itself.
        }
    }

    /// <summary>Begins the check of a test whose attributes ask for one.</summary>
    public void OnTestStarting(IXunitTest test)
    {
        ArgumentNullException.ThrowIfNull(test);
        var check = XunitLeakCheck.Begin(test.TestDisplayName, test.TestMethod.TestClass.Class, test.TestMethod.Method, test.Timeout, owner: null, out var warning);
        if (warning is not null)
        {
            TestContext.Current.AddWarning(warning);
        }

        if (check is not null)
        {
            _checks[test] = check;
        }
    }

    /// <summary>Nothing to do: the check ends in <see cref="OnTestFinishedAsync"/>.</summary>
    public void OnTestFinished(IXunitTest test)
    {
    }

    /// <summary>Nothing to do: the check begins in <see cref="OnTestStarting"/>.</summary>
    public ValueTask OnTestStartingAsync(IXunitTest test) => default;

    /// <summary>Ends the check of a test: fails it on a leak, adding the report to its output.</summary>
    public ValueTask OnTestFinishedAsync(IXunitTest test)
    {
        if (test is null || !_checks.TryRemove(test, out var check))
        {
            return default;
        }

        check.AttachOwners(OwnersOf(test));
        var result = TestContext.Current.TestState?.Result;
        var ending = check.EndAsync(testAlreadyFailed: result == TestResult.Failed, testSkipped: result == TestResult.Skipped);

        // A test skipped at run time (Assert.Skip) is not checked.
        return result == TestResult.Skipped ? IgnoreAsync(ending) : DeliverAsync(ending);
    }

    private static async ValueTask DeliverAsync(ValueTask<XunitLeakOutcome> ending) => NoTaskLeaksAttribute.Deliver(await ending.ConfigureAwait(false), throwFailure: true);

    private static async ValueTask IgnoreAsync(ValueTask<XunitLeakOutcome> ending) => await ending.ConfigureAwait(false);

    /// <summary>Nothing to do when a test collection starts.</summary>
    public void OnTestCollectionStarting(IXunitTestCollection testCollection)
    {
    }

    /// <summary>
    /// After the collection's test classes and their class fixtures are done: fails the collection's cleanup when work
    /// those class fixtures held is still pending.
    /// </summary>
    public void OnTestCollectionFinished(IXunitTestCollection testCollection) => EndOwners(testCollection?.UniqueID);

    /// <summary>Nothing to do when the test assembly starts.</summary>
    public void OnTestAssemblyStarting(IXunitTestAssembly testAssembly)
    {
    }

    /// <summary>After every collection and its collection fixtures are done: the same for work collection fixtures held.</summary>
    public void OnTestAssemblyFinished(IXunitTestAssembly testAssembly) => EndOwners(testAssembly?.UniqueID);

    // Class, collection and assembly fixtures outlive the test: work they hold is theirs. Assembly fixtures end after
    // the last notification a fixture gets, so what they hold is never checked at their end.
    private List<LeakOwner> OwnersOf(IXunitTest test)
    {
        var owners = new List<LeakOwner>();
        try
        {
            var context = TestContext.Current;
            var testClass = test.TestMethod.TestClass;
            var collection = test.TestCase.TestCollection;
            AddOwners(owners, context, testClass.ClassFixtureTypes, "class fixture", collection.UniqueID);
            AddOwners(owners, context, collection.CollectionFixtureTypes, "collection fixture", collection.TestAssembly.UniqueID);
            AddOwners(owners, context, collection.TestAssembly.AssemblyFixtureTypes, "assembly fixture", endsWith: null);
        }
        catch (Exception)
        {
            // No owners: fixture-held work is then reported as the test's, as it would be without this.
        }

        return owners;
    }

    private void AddOwners(List<LeakOwner> owners, ITestContext context, IReadOnlyCollection<Type> types, string kind, string? endsWith)
    {
        foreach (var type in types)
        {
            if (type == typeof(LeakCheckFixture))
            {
                continue;
            }

            var fixture = context.GetFixture(type);
            if (!fixture.IsCompletedSuccessfully || fixture.Result is not { } instance)
            {
                continue;
            }

            var owner = LeakOwner.For(instance, $"{kind} {type.Name}");
            owners.Add(owner);
            if (endsWith is not null)
            {
                _owners.GetOrAdd(endsWith, _ => new())[owner] = 0;
            }
        }
    }

    private void EndOwners(string? uniqueId)
    {
        if (uniqueId is null || !_owners.TryRemove(uniqueId, out var owners))
        {
            return;
        }

        var failures = XunitLeakCheck.EndOwners(owners.Keys, message => TestContext.Current.SendDiagnosticMessage(message));
        if (failures.Count > 0)
        {
            // The class's or collection's cleanup fails, as when a fixture's Dispose throws.
            throw failures.Count == 1 ? failures[0] : new AggregateException(failures);
        }
    }
}
