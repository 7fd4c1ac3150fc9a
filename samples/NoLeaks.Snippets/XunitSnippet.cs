using NoLeaks.Xunit;

[assembly: NoTaskLeaks]                     // every test of the assembly, or put it on a class or a test

public class OrderTests
{
    [Fact, AllowTaskLeaks("the cache refresher lives for the whole run")]
    public void Warms_cache() { /* … */ }
}
