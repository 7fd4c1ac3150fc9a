namespace NoLeaks;

/// <summary>Decides whether a leak is allowed. Build one with <see cref="Ignore"/>.</summary>
public abstract class LeakFilter
{
    /// <summary>What the filter allows, for the report.</summary>
    public abstract string Description { get; }

    /// <summary>True when the leak is allowed and must not be reported.</summary>
    public abstract bool Matches(TaskLeak leak);

    /// <summary>The description.</summary>
    public override string ToString() => Description;
}
