using NUnit.Framework;

namespace NoLeaks.NUnit.Fixtures;

/// <summary>Tests running in parallel: each sees only its own work.</summary>
[Parallelizable(ParallelScope.All)]
[NoTaskLeaks(GracePeriodMilliseconds = 200)]
public class ParallelTests
{
    [Test]
    public async Task Leak_a()
    {
        _ = WaitAAsync();
        await Task.Delay(30);
    }

    [Test]
    public async Task Leak_b()
    {
        _ = WaitBAsync();
        await Task.Delay(30);
    }

    [Test]
    public async Task Leak_c()
    {
        await Task.Delay(30);
        _ = WaitCAsync();
    }

    [Test]
    public async Task Clean_1() => await Task.Delay(30);

    [Test]
    public async Task Clean_2() => await Task.Delay(30);

    [Test]
    public async Task Clean_3() => await Task.Delay(30);

    private static async Task WaitAAsync() => await new TaskCompletionSource().Task; // @parallel-a

    private static async Task WaitBAsync() => await new TaskCompletionSource().Task; // @parallel-b

    private static async Task WaitCAsync() => await new TaskCompletionSource().Task; // @parallel-c
}
