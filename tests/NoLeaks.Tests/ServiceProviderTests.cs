using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using NoLeaks.Tests.Support;
using NoLeaks.Tracking;

namespace NoLeaks.Tests;

/// <summary>
/// Work left running by a singleton of a ServiceProvider that has not been disposed names the singleton, the provider and the
/// line that built it; a provider that was disposed is never called undisposed, whatever its singleton still runs.
/// </summary>
public class ServiceProviderTests
{
    private const int TestTimeout = 30_000;

    private const string DisposeFix =
        "dispose the provider (`using var provider = services.BuildServiceProvider()`) so its singletons are disposed";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Options that record the line that built each provider; a clean run waits as long as its work needs to end.</summary>
    private static NoLeaksOptions WithLines(TimeSpan? grace = null)
    {
        var options = Scopes.Options(grace);
        options.CaptureServiceProviderLines = true;
        return options;
    }

    /// <summary>Consumes a channel from its constructor on; disposing it completes the channel and waits for the loop.</summary>
    private sealed class OrderCache : IAsyncDisposable
    {
        private readonly Channel<int> _orders = Channel.CreateUnbounded<int>();
        private readonly Task _loop;

        public OrderCache() => _loop = ConsumeAsync();

        public int Count { get; private set; }

        public async ValueTask DisposeAsync()
        {
            _orders.Writer.TryComplete();
            await _loop;
        }

        private async Task ConsumeAsync()
        {
            while (await _orders.Reader.WaitToReadAsync())
            {
                while (_orders.Reader.TryRead(out _))
                {
                    Count++;
                }
            }
        }
    }

    /// <summary>Ticks a periodic timer from its constructor on; disposing it disposes the timer, which ends the loop.</summary>
    private sealed class Heartbeat : IDisposable
    {
        private readonly PeriodicTimer _timer = new(TimeSpan.FromMinutes(5));

        public Heartbeat() => Loop = BeatAsync();

        public Task Loop { get; }

        public void Dispose() => _timer.Dispose();

        private async Task BeatAsync()
        {
            while (await _timer.WaitForNextTickAsync())
            {
            }
        }
    }

    /// <summary>Waits on a gate from its constructor on and has no Dispose: disposing its provider does not end it.</summary>
    private sealed class Stubborn
    {
        public Stubborn(Gate gate) => _ = WaitAsync(gate.Task);

        private static async Task WaitAsync(Task gate) => await gate;
    }

    /// <summary>Like <see cref="Stubborn"/>, its loop an instance method, so the singleton is the loop's <c>this</c>.</summary>
    private sealed class Lingerer
    {
        private readonly Gate _gate;

        public Lingerer(Gate gate)
        {
            _gate = gate;
            _ = LingerAsync();
        }

        private async Task LingerAsync() => await _gate.Task;
    }

    /// <summary>Like <see cref="Lingerer"/>, with a Dispose that does not end its loop.</summary>
    private sealed class Deaf : IDisposable
    {
        private readonly Gate _gate;

        public Deaf(Gate gate)
        {
            _gate = gate;
            _ = LingerAsync();
        }

        public void Dispose()
        {
        }

        private async Task LingerAsync() => await _gate.Task;
    }

    private sealed class Gate
    {
        private readonly TaskCompletionSource _source = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Task => _source.Task;

        public void Open() => _source.TrySetResult();
    }

    private sealed class Pump(Gate gate) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken) => await gate.Task;
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_singleton_consuming_a_channel_in_a_provider_never_disposed_is_named_with_the_line_that_built_it()
    {
        var (report, builtAt) = await CheckProviderAsync<OrderCache>(services => services.AddSingleton<OrderCache>(), WithLines());

        var leak = report.Leaks.Single(l => l.Method == "ServiceProviderTests.OrderCache.ConsumeAsync");
        Assert.Equal(
            $"singleton `ServiceProviderTests.OrderCache` of a ServiceProvider that has not been disposed (built at ServiceProviderTests.cs:{builtAt}): "
            + DisposeFix,
            leak.HostedService);
        Assert.Contains("      runs in     singleton `ServiceProviderTests.OrderCache`", report.ToString(), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_singleton_ticking_a_timer_in_a_provider_never_disposed_is_named_with_the_line_that_built_it()
    {
        var (report, builtAt) = await CheckProviderAsync<Heartbeat>(services => services.AddSingleton<Heartbeat>(), WithLines());

        var leak = report.Leaks.Single(l => l.Method == "ServiceProviderTests.Heartbeat.BeatAsync");
        Assert.Equal(
            $"singleton `ServiceProviderTests.Heartbeat` of a ServiceProvider that has not been disposed (built at ServiceProviderTests.cs:{builtAt}): "
            + DisposeFix,
            leak.HostedService);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Without_the_option_the_singleton_and_its_provider_are_still_named()
    {
        // Whether the line is there depends on whether a test before this one turned recording on (it is process-wide).
        var (report, _) = await CheckProviderAsync<Heartbeat>(services => services.AddSingleton<Heartbeat>(), Scopes.Options());

        var leak = report.Leaks.Single(l => l.Method == "ServiceProviderTests.Heartbeat.BeatAsync");
        Assert.StartsWith("singleton `ServiceProviderTests.Heartbeat` of a ServiceProvider that has not been disposed", leak.HostedService);
        Assert.EndsWith(DisposeFix, leak.HostedService);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_provider_disposed_in_the_test_whose_singletons_end_their_work_leaves_nothing()
    {
        var report = await Scopes.CheckAsync("provider disposed", async () =>
        {
            await using var provider = new ServiceCollection().AddSingleton<OrderCache>().AddSingleton<Heartbeat>().BuildServiceProvider();
            provider.GetRequiredService<OrderCache>();
            provider.GetRequiredService<Heartbeat>();
        }, WithLines(TimeSpan.FromSeconds(10)));

        Scopes.Clean(report);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_provider_disposed_whose_singleton_ignores_disposal_is_not_called_undisposed()
    {
        // Lingerer has no Dispose; Deaf has one that does not end its loop.
        var (withoutDispose, _) = await CheckProviderAsync<Lingerer>(services => services.AddSingleton<Lingerer>(), WithLines(), disposeInTest: true);
        var (deafDispose, _) = await CheckProviderAsync<Deaf>(services => services.AddSingleton<Deaf>(), WithLines(), disposeInTest: true);

        foreach (var (report, method) in new[] { (withoutDispose, "Lingerer"), (deafDispose, "Deaf") })
        {
            var leak = Scopes.Single(report);
            Assert.Equal($"ServiceProviderTests.{method}.LingerAsync", leak.Method);
            Assert.Null(leak.HostedService);
            Assert.DoesNotContain("not been disposed", report.ToString(), StringComparison.Ordinal);
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_singleton_without_a_Dispose_is_told_that_disposing_its_provider_will_not_end_its_work()
    {
        var (report, builtAt) = await CheckProviderAsync<Lingerer>(services => services.AddSingleton<Lingerer>(), WithLines());

        Assert.Equal(
            $"singleton `ServiceProviderTests.Lingerer` of a ServiceProvider that has not been disposed (built at ServiceProviderTests.cs:{builtAt}): "
            + DisposeFix + "; `ServiceProviderTests.Lingerer` implements neither IDisposable nor IAsyncDisposable, so give it a Dispose "
            + "that ends this work",
            Scopes.Single(report).HostedService);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Work_a_singleton_started_outside_its_instance_names_no_provider()
    {
        // Stubborn's loop is static: no state machine of the chain runs on the singleton, so nothing ties it to the provider.
        var (report, _) = await CheckProviderAsync<Stubborn>(services => services.AddSingleton<Stubborn>(), WithLines());

        Assert.Null(Scopes.Single(report).HostedService);
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_transient_service_is_not_named_as_a_singleton()
    {
        var (report, _) = await CheckProviderAsync<Lingerer>(services => services.AddTransient<Lingerer>(), WithLines());

        Assert.Null(Scopes.Single(report).HostedService);
    }

    /// <summary>
    /// Inside a checked scope: builds a provider of the services <paramref name="register"/> adds (a <see cref="Gate"/> is
    /// there to wait on), resolves <typeparamref name="T"/>, which starts its work, and disposes the provider when
    /// <paramref name="disposeInTest"/>. After the check the gate opens and the provider is disposed. The report, and the line
    /// that built the provider.
    /// </summary>
    private static async Task<(LeakReport Report, int BuiltAt)> CheckProviderAsync<T>(
        Func<IServiceCollection, IServiceCollection> register, NoLeaksOptions options, bool disposeInTest = false)
        where T : notnull
    {
        var gate = new Gate();
        ServiceProvider? provider = null;
        var builtAt = 0;
        try
        {
            // Not inlined: this lambda is the target of every call Scopes.CheckAsync makes from here, and once that
            // method is hot, dynamic PGO inlined it there (CI: "built at Scopes.cs:22", the line that calls it).
            var report = await Scopes.CheckAsync(typeof(T).Name, [MethodImpl(MethodImplOptions.NoInlining)] () =>
            {
                provider = register(new ServiceCollection().AddSingleton(gate)).BuildServiceProvider(); builtAt = Line();
                provider.GetRequiredService<T>();
                if (disposeInTest)
                {
                    provider.Dispose();
                }

                return Task.CompletedTask;
            }, options);
            return (report, builtAt);
        }
        finally
        {
            gate.Open();
            await (provider?.DisposeAsync() ?? default);
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_hosted_service_of_a_host_never_stopped_keeps_the_hosted_service_wording()
    {
        var gate = new Gate();
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton(gate).AddHostedService<Pump>();
        using var host = builder.Build(); var builtAt = Line();
        try
        {
            var report = await Scopes.CheckAsync("hosted service", () => host.StartAsync(Cancel), WithLines());

            var leak = report.Leaks.Single(l => l.Method == "ServiceProviderTests.Pump.ExecuteAsync");
            Assert.StartsWith(
                $"hosted service `ServiceProviderTests.Pump` (a BackgroundService registered in the host built at ServiceProviderTests.cs:{builtAt}) "
                + "is still running: its host was never stopped",
                leak.HostedService);
        }
        finally
        {
            // Pump ignores its stopping token: StopAsync would wait for it.
            gate.Open();
            await host.StopAsync(Cancel);
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task A_singleton_of_a_host_never_disposed_names_the_host_and_asks_to_dispose_it()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddSingleton<Heartbeat>();
        var host = builder.Build(); var builtAt = Line();
        try
        {
            var report = await Scopes.CheckAsync("singleton of a host", () =>
            {
                host.Services.GetRequiredService<Heartbeat>();
                return Task.CompletedTask;
            }, WithLines());

            var leak = report.Leaks.Single(l => l.Method == "ServiceProviderTests.Heartbeat.BeatAsync");
            Assert.Equal(
                $"singleton `ServiceProviderTests.Heartbeat` of the services of the host built at ServiceProviderTests.cs:{builtAt}, which have "
                + "not been disposed: dispose the host before the test ends (`using var host = …`): stopping it does not dispose its singletons",
                leak.HostedService);
        }
        finally
        {
            host.Dispose();
        }
    }

    [Fact(Timeout = TestTimeout)]
    public async Task Probe_a_service_provider_keeps_its_singletons_and_disposal_where_NoLeaks_reads_them()
    {
        // Fails when a Microsoft.Extensions.DependencyInjection version moves what NoLeaks reads: reports then name no
        // singleton (the provider list, the root scope's resolved services, the disposed flag) or no building line.
        ServiceProviderBuilds.Listen();
        var gate = new Gate();
        var provider = new ServiceCollection().AddSingleton(gate).AddSingleton<OrderCache>().AddTransient<Heartbeat>().BuildServiceProvider();
        var cache = provider.GetRequiredService<OrderCache>();
        var transient = provider.GetRequiredService<Heartbeat>();
        Assert.Same(gate, provider.GetRequiredService<Gate>());
        Assert.Contains(provider, ServiceProviderBuilds.LiveProviders());
        Assert.Contains(cache, ServiceProviderBuilds.SingletonsOf(provider));

        // The provider neither created the instance registered nor keeps the transient: neither is a singleton of its own.
        Assert.DoesNotContain(gate, ServiceProviderBuilds.SingletonsOf(provider));
        Assert.DoesNotContain(transient, ServiceProviderBuilds.SingletonsOf(provider));
        Assert.Equal(false, ServiceProviderBuilds.IsDisposed(provider));
        Assert.NotNull(ServiceProviderBuilds.BuildingStackOf(provider));

        await provider.DisposeAsync();
        Assert.Equal(true, ServiceProviderBuilds.IsDisposed(provider));
        Assert.DoesNotContain(provider, ServiceProviderBuilds.LiveProviders());

        using var host = new HostBuilder().Build();
        Assert.Same(host.Services, HostBuilds.ServicesOf(host));
        Assert.NotNull(HostBuilds.BuildingStackOfHostWith(host.Services));
    }

    private static int Line([CallerLineNumber] int line = 0) => line;
}
