using FluentAssertions;
using NoLeaks.FluentAssertions;

namespace NoLeaks.Snippets.FluentAssertions;

public class ServiceSnippet
{
    public async Task Service_stops_its_work()
    {
        var service = new Service();
        Func<Task> act = async () => { await service.StartAsync(); await service.StopAsync(); };
        await act.Should().NotLeakTasksAsync();
    }

    private sealed class Service
    {
        public Task StartAsync() => Task.CompletedTask;

        public Task StopAsync() => Task.CompletedTask;
    }
}
