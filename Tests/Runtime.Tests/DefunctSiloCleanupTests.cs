using System.Collections.Concurrent;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Tests;

/// <summary>
/// The agent deleting defunct rows on its own schedule, and a silo whose row was deleted never coming
/// back. One agent over an in-memory table, started through its lifecycle; the clock moves only when the
/// test says, while the loop's short delays run on real time.
/// </summary>
public sealed class DefunctSiloCleanupTests
{
    private static readonly DateTimeOffset Start = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task The_agent_deletes_dead_rows_past_the_expiration_once_per_period_starting_one_period_after_it_started()
    {
        var node = new Node(o => o.DetectFailures = false); // keeps the old live rows below from being declared dead
        var oldDead = await node.InsertAsync(1, SiloStatus.Dead, lastSeen: Start - TimeSpan.FromDays(2));
        var recentDead = await node.InsertAsync(2, SiloStatus.Dead, lastSeen: Start - TimeSpan.FromHours(1));
        var restartedLate = await node.InsertAsync(3, SiloStatus.Dead, lastSeen: Start - TimeSpan.FromDays(3), started: Start - TimeSpan.FromHours(3));
        var oldActive = await node.InsertAsync(4, SiloStatus.Active, lastSeen: Start - TimeSpan.FromDays(10));
        var oldShuttingDown = await node.InsertAsync(5, SiloStatus.ShuttingDown, lastSeen: Start - TimeSpan.FromDays(10));
        await node.StartAsync();
        var version = (await node.Table.ReadAllAsync(default)).Version;

        await node.AdvanceAsync(TimeSpan.FromMinutes(59));
        Assert.Contains(oldDead, await node.SilosAsync());
        Assert.Empty(node.Logger.Messages(LogLevel.Information, "defunct"));

        await node.AdvanceAsync(TimeSpan.FromMinutes(1));
        var silos = await node.SilosAsync();
        Assert.DoesNotContain(oldDead, silos);
        Assert.Equal(new[] { recentDead, restartedLate, oldActive, oldShuttingDown, node.Agent.LocalSilo }.ToHashSet(), silos.ToHashSet());
        Assert.Equal("Deleted 1 defunct silo rows (dead for longer than 1.00:00:00) from the membership table", Assert.Single(node.Logger.Messages(LogLevel.Information, "defunct")));
        Assert.Equal(version, (await node.Table.ReadAllAsync(default)).Version);
        // The view drops the row too, though the version did not move.
        await Clusters.Eventually(() => Task.FromResult(node.Agent.Current.GetStatus(oldDead) == SiloStatus.None), because: "the view drops the deleted row");
        Assert.Equal(version.Version, node.Agent.Current.Version);
        Assert.Equal(SiloStatus.Dead, node.Agent.Current.GetStatus(recentDead));

        // Another row dies long ago; the next cleanup is a full period after the last one, not before.
        var lateComer = await node.InsertAsync(6, SiloStatus.Dead, lastSeen: Start - TimeSpan.FromDays(5));
        await node.AdvanceAsync(TimeSpan.FromMinutes(30));
        Assert.Contains(lateComer, await node.SilosAsync());
        await node.AdvanceAsync(TimeSpan.FromMinutes(30));
        Assert.DoesNotContain(lateComer, await node.SilosAsync());
        // Two hours after the start recentDead (last seen an hour before it) is still well within its day.
        Assert.Contains(recentDead, await node.SilosAsync());
        Assert.Equal(2, node.Logger.Messages(LogLevel.Information, "defunct").Count);

        await node.StopAsync();
        Assert.Equal(0, node.Lifetime.StopCalls);
    }

    [Fact]
    public async Task A_failed_cleanup_is_logged_and_the_loop_goes_on_and_cleans_up_next_period()
    {
        var node = new Node(failFirstCleanup: true);
        var oldDead = await node.InsertAsync(1, SiloStatus.Dead, lastSeen: Start - TimeSpan.FromDays(2));
        await node.StartAsync();

        await node.AdvanceAsync(TimeSpan.FromHours(1));
        Assert.Contains(oldDead, await node.SilosAsync());
        Assert.Single(node.Logger.Messages(LogLevel.Warning, "Deleting defunct silo rows"));

        await node.AdvanceAsync(TimeSpan.FromHours(1));
        Assert.DoesNotContain(oldDead, await node.SilosAsync());
        await node.StopAsync();
    }

    [Fact]
    public async Task A_silo_whose_own_row_was_deleted_stops_the_host_and_never_writes_its_row_again()
    {
        // The loop waits an hour of real time: the test drives the refreshes itself.
        var node = new Node(o => o.RefreshInterval = TimeSpan.FromHours(1));
        await node.StartAsync();
        Assert.Equal(SiloStatus.Active, node.Agent.Current.GetStatus(node.Agent.LocalSilo));

        // Away (partitioned, paused) while the others declared it dead and, a day later, deleted its row.
        var snapshot = await node.Table.ReadAllAsync(default);
        var (own, etag) = snapshot.Entries.Single(e => e.Entry.Silo == node.Agent.LocalSilo);
        Assert.True(await node.Table.UpdateRowAsync(own with { Status = SiloStatus.Dead }, etag, snapshot.Version.Next(), default));
        Assert.Equal(1, await node.Table.CleanupDefunctSiloEntriesAsync(Start + TimeSpan.FromDays(2), default));

        await node.Agent.RefreshAsync(default);

        Assert.Equal(1, node.Lifetime.StopCalls);
        Assert.True(node.Agent.Stopping.IsCancellationRequested);
        Assert.Single(node.Logger.Messages(LogLevel.Error, "no longer in the membership table"));

        // Stopping tries ShuttingDown (refused) and Dead (nothing left to mark): neither writes the row back.
        await node.StopAsync();
        await node.Agent.RefreshAsync(default);
        Assert.DoesNotContain(node.Agent.LocalSilo, await node.SilosAsync());
        Assert.Equal(1, node.Lifetime.StopCalls);
        await node.Table.UpdateIAmAliveAsync(node.Agent.LocalSilo, Start + TimeSpan.FromDays(3), default);
        Assert.DoesNotContain(node.Agent.LocalSilo, await node.SilosAsync());
    }

    [Fact]
    public async Task A_stopping_silo_whose_row_is_deleted_does_not_stop_the_host_again()
    {
        var node = new Node(o => o.RefreshInterval = TimeSpan.FromHours(1));
        await node.StartAsync();
        await node.StopAsync(); // leaves: its row is Dead

        Assert.Equal(1, await node.Table.CleanupDefunctSiloEntriesAsync(Start + TimeSpan.FromDays(2), default));
        await node.Agent.RefreshAsync(default);

        Assert.Equal(0, node.Lifetime.StopCalls);
        Assert.Empty(node.Logger.Messages(LogLevel.Error, "no longer in the membership table"));
    }

    [Fact]
    public void The_options_validator_accepts_the_cleanup_defaults_and_rejects_nonsense()
    {
        var validator = new MembershipOptionsValidator();
        var defaults = new MembershipOptions();
        Assert.Equal(TimeSpan.FromDays(1), defaults.DefunctSiloExpiration);
        Assert.Equal(TimeSpan.FromHours(1), defaults.DefunctSiloCleanupPeriod);
        Assert.True(validator.Validate(null, defaults).Succeeded);
        Assert.True(validator.Validate(null, new MembershipOptions { DefunctSiloExpiration = TimeSpan.FromMinutes(2), DefunctSiloCleanupPeriod = TimeSpan.FromSeconds(1) }).Succeeded);
        Assert.True(validator.Validate(null, new MembershipOptions { DefunctSiloExpiration = TimeSpan.FromMinutes(1) }).Failed);
        Assert.True(validator.Validate(null, new MembershipOptions { DefunctSiloExpiration = TimeSpan.FromSeconds(-1) }).Failed);
        Assert.True(validator.Validate(null, new MembershipOptions { DefunctSiloCleanupPeriod = TimeSpan.Zero }).Failed);
        Assert.True(validator.Validate(null, new MembershipOptions { DefunctSiloCleanupPeriod = TimeSpan.FromMinutes(-5) }).Failed);
    }

    /// <summary>One agent and its table, lifecycle, host lifetime and logger.</summary>
    private sealed class Node
    {
        private readonly SiloLifecycleSubject _lifecycle = new(NullLogger<SiloLifecycleSubject>.Instance);

        public Node(Action<MembershipOptions>? configure = null, bool failFirstCleanup = false)
        {
            var options = new MembershipOptions
            {
                RefreshInterval = TimeSpan.FromMilliseconds(10),
                IAmAliveInterval = TimeSpan.FromSeconds(1),
                DefunctSiloExpiration = TimeSpan.FromDays(1),
                DefunctSiloCleanupPeriod = TimeSpan.FromHours(1),
            };
            configure?.Invoke(options);
            Table = new FlakyTable(new InMemoryMembershipTable(), failFirstCleanup);
            var local = new LocalSiloDetails(Options.Create(new SiloOptions { SiloName = "self", SiloPort = 22001 }), Clock);
            Agent = new MembershipAgent(Table, local, Options.Create(options), Clock, Lifetime, Logger);
            Agent.Participate(_lifecycle);
        }

        public ManualClock Clock { get; } = new(Start);

        public IMembershipTable Table { get; }

        public MembershipAgent Agent { get; }

        public FakeLifetime Lifetime { get; } = new();

        public ListLogger Logger { get; } = new();

        public Task StartAsync() => _lifecycle.OnStartAsync(default);

        public Task StopAsync() => _lifecycle.OnStopAsync(default);

        /// <summary>Inserts another silo's row as it would have been written, and returns its address.</summary>
        public async Task<SiloAddress> InsertAsync(int n, SiloStatus status, DateTimeOffset lastSeen, DateTimeOffset? started = null)
        {
            var silo = new SiloAddress("10.0.0." + n, 11111, n);
            var entry = new MembershipEntry { Silo = silo, Status = status, SiloName = "silo-" + n, StartTime = started ?? lastSeen, IAmAliveTime = lastSeen };
            Assert.True(await Table.InsertRowAsync(entry, (await Table.ReadAllAsync(default)).Version.Next(), default));
            return silo;
        }

        public async Task<List<SiloAddress>> SilosAsync() => [.. (await Table.ReadAllAsync(default)).Entries.Select(e => e.Entry.Silo)];

        /// <summary>
        /// Moves the clock, then waits for the loop to write its heartbeat at the new time. The loop decides
        /// on the cleanup before the heartbeat, and the memory table's cleanup finishes at once, so when the
        /// heartbeat shows, the cleanup of that moment (if due) is done.
        /// </summary>
        public async Task AdvanceAsync(TimeSpan by)
        {
            Clock.Advance(by);
            var now = Clock.GetUtcNow();
            await Clusters.Eventually(
                async () => (await Table.ReadAllAsync(default)).Entries.Single(e => e.Entry.Silo == Agent.LocalSilo).Entry.IAmAliveTime == now,
                because: "the loop writes its heartbeat at the new time");
        }
    }

    /// <summary>Passes everything to the memory table, but can fail the first cleanup as an unreachable table would.</summary>
    private sealed class FlakyTable(InMemoryMembershipTable inner, bool failFirstCleanup) : IMembershipTable
    {
        private int _cleanups;

        public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

        public Task<MembershipTableSnapshot> ReadAllAsync(CancellationToken cancellationToken) => inner.ReadAllAsync(cancellationToken);

        public Task<bool> InsertRowAsync(MembershipEntry entry, TableVersion nextVersion, CancellationToken cancellationToken) =>
            inner.InsertRowAsync(entry, nextVersion, cancellationToken);

        public Task<bool> UpdateRowAsync(MembershipEntry entry, string etag, TableVersion nextVersion, CancellationToken cancellationToken) =>
            inner.UpdateRowAsync(entry, etag, nextVersion, cancellationToken);

        public Task UpdateIAmAliveAsync(SiloAddress silo, DateTimeOffset time, CancellationToken cancellationToken) =>
            inner.UpdateIAmAliveAsync(silo, time, cancellationToken);

        public Task<int> CleanupDefunctSiloEntriesAsync(DateTimeOffset beforeDate, CancellationToken cancellationToken) =>
            failFirstCleanup && Interlocked.Increment(ref _cleanups) == 1
                ? Task.FromException<int>(new TimeoutException("The table did not answer."))
                : inner.CleanupDefunctSiloEntriesAsync(beforeDate, cancellationToken);
    }

    private sealed class FakeLifetime : IHostApplicationLifetime
    {
        private int _stopCalls;

        public int StopCalls => Volatile.Read(ref _stopCalls);

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => Interlocked.Increment(ref _stopCalls);
    }

    /// <summary>Keeps every formatted message, to check what the agent logged.</summary>
    private sealed class ListLogger : ILogger<MembershipAgent>
    {
        private readonly ConcurrentQueue<(LogLevel Level, string Message)> _messages = new();

        public List<string> Messages(LogLevel level, string containing) =>
            [.. _messages.Where(m => m.Level == level && m.Message.Contains(containing, StringComparison.Ordinal)).Select(m => m.Message)];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            _messages.Enqueue((logLevel, formatter(state, exception)));
    }

    /// <summary>Moves only when told; timers and delays still run on real time.</summary>
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private long _ticks = start.UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
