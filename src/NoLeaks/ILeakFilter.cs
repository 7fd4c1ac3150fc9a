namespace NoLeaks;

/// <summary>
/// A suite-wide decision whether a leak counts (register it in an <see cref="ILeakSuiteConfiguration"/>). A filter that
/// throws is named in the report's warnings and the leak counts.
/// </summary>
public interface ILeakFilter
{
    /// <summary>True when the leak counts; false allows it (the report counts it among those allowed by filters).</summary>
    bool Counts(TaskLeak leak);
}
