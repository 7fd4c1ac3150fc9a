using System.Runtime.CompilerServices;
using NoLeaks.Reporting;

namespace NoLeaks.Sdk;

/// <summary>
/// An object that outlives the tests that use it and whose end the test framework manages: a class, collection or
/// assembly fixture, an NUnit fixture instance. Work a test leaves behind that such an object holds (a host a fixture
/// starts on first use, inside whichever test touches it first) is not that test's leak: it is handed to the owner,
/// and checked when the owner ends, after its own cleanup.
/// </summary>
public sealed class LeakOwner
{
    private static readonly ConditionalWeakTable<object, LeakOwner> Owners = new();
    private readonly object _gate = new();
    private LeakScope? _scope;

    private LeakOwner(object instance, string description)
    {
        Instance = instance;
        Description = description;
    }

    /// <summary>The owner object: where the search for what holds a test's pending work starts.</summary>
    public object Instance { get; }

    /// <summary>How reports name the owner: <c>class fixture WebAppFixture</c>.</summary>
    public string Description { get; }

    /// <summary>True when work has been handed to this owner.</summary>
    public bool HasWork
    {
        get
        {
            lock (_gate)
            {
                return _scope is not null;
            }
        }
    }

    /// <summary>The owner for an object (one per object: the first description given wins).</summary>
    public static LeakOwner For(object instance, string description)
    {
        ArgumentNullException.ThrowIfNull(instance);
        return Owners.GetValue(instance, o => new LeakOwner(o, string.IsNullOrWhiteSpace(description) ? o.GetType().Name : description));
    }

    /// <summary>
    /// Lets <paramref name="scope"/> hand pending work these owners hold to them when it ends, instead of reporting it.
    /// Call before ending the scope.
    /// </summary>
    public static void Attach(LeakScope scope, IEnumerable<LeakOwner> owners)
    {
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(owners);
        var list = owners.Distinct().ToList();
        if (list.Count > 0)
        {
            (scope.Owners ??= []).AddRange(list);
        }
    }

    /// <summary>
    /// Checks the work handed to this owner, after the owner's own cleanup (its <c>Dispose</c>/<c>DisposeAsync</c>/
    /// <c>OneTimeTearDown</c>): waits up to the grace period for it to finish and reports what is left, each entry naming
    /// the test that created it. A clean report when nothing was handed over. Never throws.
    /// </summary>
    public async ValueTask<LeakReport> EndAsync(CancellationToken cancellationToken = default)
    {
        LeakScope? scope;
        lock (_gate)
        {
            scope = _scope;
            _scope = null;
        }

        if (scope is null)
        {
            return new LeakReport(Description, [], [], LeakAction.Fail, TimeSpan.Zero, 0);
        }

        var report = await scope.EndAsync(cancellationToken: cancellationToken).ConfigureAwait(false);
        try
        {
            // In the run's summary, report file and annotations like a test's leaks.
            RunSummary.AddHeld(report);
        }
        catch (Exception)
        {
            // The run summary is extra: the fixture's own report already carries everything.
        }

        return report;
    }

    /// <summary>The scope that receives the work handed over; created on first use with the first giver's options.</summary>
    internal LeakScope ScopeFor(NoLeaksOptions options)
    {
        lock (_gate)
        {
            return _scope ??= LeakScope.Detached(Description, options);
        }
    }

    /// <summary>The name.</summary>
    public override string ToString() => Description;
}
