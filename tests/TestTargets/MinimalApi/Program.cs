using NoLeaks.TestTargets.MinimalApi;

var builder = WebApplication.CreateBuilder(args);
builder.Services.AddSingleton<Started>();
builder.Services.AddHostedService<OrderPump>();
builder.Services.AddHostedService<PriceTicker>();
var app = builder.Build(); // @host-built
app.MapGet("/ping", () => "pong");
app.Run();

/// <summary>The entry point WebApplicationFactory starts.</summary>
public partial class Program;

namespace NoLeaks.TestTargets.MinimalApi
{
    /// <summary>Completes once both services have begun their work.</summary>
    public sealed class Started
    {
        private int _count;

        public TaskCompletionSource Both { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void One()
        {
            if (Interlocked.Increment(ref _count) == 2)
            {
                Both.TrySetResult();
            }
        }
    }

    /// <summary>Waits for orders until the host stops.</summary>
    public sealed class OrderPump(Started started) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            started.One();
            await Task.Delay(Timeout.Infinite, stoppingToken);
        }
    }

    /// <summary>Ticks until the host stops.</summary>
    public sealed class PriceTicker(Started started) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            started.One();
            using var timer = new PeriodicTimer(TimeSpan.FromMinutes(5));
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
            }
        }
    }
}
