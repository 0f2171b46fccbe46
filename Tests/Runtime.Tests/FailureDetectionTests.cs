using System.Collections.Concurrent;
using Analytics.Runtime.Hosting;
using Analytics.Runtime.Membership;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Analytics.Runtime.Tests;

public sealed class FailureDetectionTests
{
    private static readonly TimeSpan Expiration = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task One_vote_does_not_kill_when_two_are_needed_and_the_second_voter_declares_the_silo_dead()
    {
        var world = new World();
        var (a, b, c) = (await world.AddAsync(), await world.AddAsync(), await world.AddAsync());
        world.Prober.Down.TryAdd(c.Address, 0);

        await a.RoundsAsync(2);
        Assert.Equal(2, a.Monitor.GetMissedProbes(c.Address));
        Assert.Empty((await world.RowAsync(c)).Suspicions);

        // Further misses refresh A's vote but never count it twice.
        await a.RoundsAsync(3);
        var afterA = await world.RowAsync(c);
        Assert.Equal(SiloStatus.Active, afterA.Status);
        Assert.Equal([a.Address], afterA.Suspicions.Select(v => v.Voter));

        await b.RoundsAsync(3);
        var afterB = await world.RowAsync(c);
        Assert.Equal(SiloStatus.Dead, afterB.Status);
        Assert.Equal(new[] { a.Address, b.Address }.ToHashSet(), afterB.Suspicions.Select(v => v.Voter).ToHashSet());

        // The declarer refreshed its view at once; the next round no longer probes the dead silo.
        Assert.Equal(SiloStatus.Dead, b.Agent.Current.GetStatus(c.Address));
        await b.RoundsAsync(1);
        Assert.Equal(0, b.Monitor.GetMissedProbes(c.Address));
    }

    [Fact]
    public async Task Votes_older_than_the_expiration_are_not_counted()
    {
        var world = new World();
        var (a, b, c) = (await world.AddAsync(), await world.AddAsync(), await world.AddAsync());
        world.Prober.Down.TryAdd(c.Address, 0);

        await a.RoundsAsync(3);
        world.Clock.Advance(Expiration + TimeSpan.FromSeconds(1));
        await b.RoundsAsync(3);

        var row = await world.RowAsync(c);
        Assert.Equal(SiloStatus.Active, row.Status);
        Assert.Equal([b.Address], row.Suspicions.Select(v => v.Voter));

        // A fresh vote from A completes the pair.
        await a.RoundsAsync(1);
        Assert.Equal(SiloStatus.Dead, (await world.RowAsync(c)).Status);
    }

    [Fact]
    public async Task With_one_other_active_silo_its_vote_alone_declares_death()
    {
        var world = new World();
        var (a, b) = (await world.AddAsync(), await world.AddAsync());

        // A joining silo is probed but cannot vote, so it does not raise the number of votes needed.
        var joining = await world.AddAsync(SiloStatus.Joining);
        world.Prober.Down.TryAdd(b.Address, 0);

        await a.RoundsAsync(3);
        var row = await world.RowAsync(b);
        Assert.Equal(SiloStatus.Dead, row.Status);
        Assert.Equal([a.Address], row.Suspicions.Select(v => v.Voter));
        Assert.Contains(joining.Address, world.Prober.Probed);
    }

    [Fact]
    public async Task A_silo_never_probes_or_votes_against_itself()
    {
        var world = new World();
        var (a, b) = (await world.AddAsync(), await world.AddAsync());
        world.Prober.Down.TryAdd(a.Address, 0);

        await a.RoundsAsync(4);
        await a.Monitor.TryVoteAsync(a.Address, 99, CancellationToken.None);

        Assert.DoesNotContain(a.Address, world.Prober.Probed);
        var row = await world.RowAsync(a);
        Assert.Equal(SiloStatus.Active, row.Status);
        Assert.Empty(row.Suspicions);
        Assert.Empty((await world.RowAsync(b)).Suspicions);
    }

    [Fact]
    public async Task A_probe_that_recovers_resets_the_miss_count()
    {
        var world = new World();
        var (a, _, c) = (await world.AddAsync(), await world.AddAsync(), await world.AddAsync());

        world.Prober.Down.TryAdd(c.Address, 0);
        await a.RoundsAsync(2);
        world.Prober.Down.TryRemove(c.Address, out _);
        await a.RoundsAsync(1);
        Assert.Equal(0, a.Monitor.GetMissedProbes(c.Address));

        world.Prober.Down.TryAdd(c.Address, 0);
        await a.RoundsAsync(2);
        Assert.Equal(2, a.Monitor.GetMissedProbes(c.Address));
        Assert.Empty((await world.RowAsync(c)).Suspicions);

        await a.RoundsAsync(1);
        Assert.Equal([a.Address], (await world.RowAsync(c)).Suspicions.Select(v => v.Voter));
    }

    [Fact]
    public async Task A_silo_whose_own_row_is_not_active_does_not_vote()
    {
        var world = new World();
        var (a, _) = (await world.AddAsync(), await world.AddAsync());
        var c = await world.AddAsync();
        world.Prober.Down.TryAdd(c.Address, 0);

        // A's view still says Active, but the table (the authority at vote time) says it is leaving.
        await a.Agent.RefreshAsync(CancellationToken.None);
        await world.SetStatusAsync(a, SiloStatus.ShuttingDown);
        await a.RoundsAsync(3, refresh: false);
        Assert.Equal(3, a.Monitor.GetMissedProbes(c.Address));

        var row = await world.RowAsync(c);
        Assert.Equal(SiloStatus.Active, row.Status);
        Assert.Empty(row.Suspicions);
    }

    [Fact]
    public async Task Silos_that_leave_the_view_are_forgotten()
    {
        var world = new World();
        var (a, _, c) = (await world.AddAsync(), await world.AddAsync(), await world.AddAsync());
        world.Prober.Down.TryAdd(c.Address, 0);
        await a.RoundsAsync(2);

        await world.SetStatusAsync(c, SiloStatus.Dead);
        await a.RoundsAsync(1);
        Assert.Equal(0, a.Monitor.GetMissedProbes(c.Address));
    }

    [Fact]
    public async Task A_probe_that_never_answers_is_missed_after_the_probe_timeout()
    {
        var world = new World(o => o.ProbeTimeout = TimeSpan.FromMilliseconds(100));
        var (a, b) = (await world.AddAsync(), await world.AddAsync());
        world.Prober.Hang.TryAdd(b.Address, 0);

        var started = DateTime.UtcNow;
        await a.RoundsAsync(1);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
        Assert.Equal(1, a.Monitor.GetMissedProbes(b.Address));
    }

    [Fact]
    public void Each_silo_probes_its_successors_on_the_ring_so_every_silo_has_distinct_watchers()
    {
        var silos = Enumerable.Range(1, 5).Select(i => new SiloAddress("127.0.0.1", 21000 + i, i)).ToList();
        var view = new MembershipView(1, silos.Select(s => Entry(s, SiloStatus.Active)).Append(Entry(new SiloAddress("127.0.0.1", 21009, 9), SiloStatus.Dead)).ToList());

        var targets = silos.ToDictionary(s => s, s => ClusterHealthMonitor.SelectTargets(view, s, 2));

        Assert.Equal([silos[1], silos[2]], targets[silos[0]]);
        Assert.Equal([silos[0], silos[1]], targets[silos[4]]);
        foreach (var silo in silos)
        {
            Assert.Equal(2, targets.Count(t => t.Value.Contains(silo)));
            Assert.DoesNotContain(silo, targets[silo]);
        }

        Assert.Equal(4, ClusterHealthMonitor.SelectTargets(view, silos[0], 10).Count);
    }

    [Fact]
    public void The_options_validator_accepts_the_defaults_and_rejects_nonsense()
    {
        var validator = new MembershipOptionsValidator();
        Assert.True(validator.Validate(null, new MembershipOptions()).Succeeded);
        Assert.True(validator.Validate(null, new MembershipOptions { ProbeInterval = TimeSpan.FromSeconds(1), ProbeTimeout = TimeSpan.FromSeconds(6) }).Failed);
        Assert.True(validator.Validate(null, new MembershipOptions { ProbeInterval = TimeSpan.Zero }).Failed);
        Assert.True(validator.Validate(null, new MembershipOptions { NumVotesForDeathDeclaration = 0 }).Failed);
        Assert.True(validator.Validate(null, new MembershipOptions { NumMissedProbesLimit = 0 }).Failed);
        Assert.True(validator.Validate(null, new MembershipOptions { DeathVoteExpiration = TimeSpan.Zero }).Failed);
        Assert.True(validator.Validate(null, new MembershipOptions { DeathTimeout = TimeSpan.FromSeconds(4) }).Failed);
    }

    [Fact]
    public async Task In_a_cluster_the_survivors_vote_a_killed_silo_dead_long_before_its_heartbeat_expires()
    {
        // A long heartbeat timeout, so only the probes and votes can declare the silo dead.
        await using var cluster = await Clusters.StartAsync(silos: 3, services: s => s.Configure<MembershipOptions>(o => o.DeathTimeout = TimeSpan.FromSeconds(60)));
        var victim = cluster.Silos[1];
        var survivors = cluster.Silos.Where(s => s != victim).Select(s => s.Address).ToHashSet();

        var started = DateTime.UtcNow;
        await cluster.KillSiloAsync(victim);
        await Clusters.Eventually(
            async () => (await RowAsync(cluster, victim.Address)).Status == SiloStatus.Dead,
            TimeSpan.FromSeconds(20),
            "the survivors vote the killed silo dead");
        var elapsed = DateTime.UtcNow - started;

        var row = await RowAsync(cluster, victim.Address);
        Assert.True(elapsed < TimeSpan.FromSeconds(10), $"declared dead after {elapsed.TotalSeconds:0.0} s");
        Assert.Equal(survivors, row.Suspicions.Select(v => v.Voter).ToHashSet());
        await cluster.WaitForLivenessToStabilizeAsync();
    }

    [Fact]
    public async Task With_failure_detection_off_a_killed_silo_stays_in_the_table()
    {
        await using var cluster = await Clusters.StartAsync(silos: 2, services: s => s.Configure<MembershipOptions>(o => o.DetectFailures = false));
        var victim = cluster.Silos[1];
        await cluster.KillSiloAsync(victim);

        // Past both the test cluster's 2.5 s heartbeat timeout and three missed 1 s probes.
        await Task.Delay(TimeSpan.FromSeconds(4.5));
        var row = await RowAsync(cluster, victim.Address);
        Assert.Equal(SiloStatus.Active, row.Status);
        Assert.Empty(row.Suspicions);
    }

    private static async Task<MembershipEntry> RowAsync(Testing.TestCluster cluster, SiloAddress silo) =>
        (await cluster.Fabric.MembershipTable.ReadAllAsync(CancellationToken.None)).Entries.Single(e => e.Entry.Silo == silo).Entry;

    private static MembershipEntry Entry(SiloAddress silo, SiloStatus status) => new() { Silo = silo, Status = status, SiloName = silo.ToString() };

    /// <summary>Silos as bare agents and monitors over one in-memory table, driven round by round by the test.</summary>
    private sealed class World(Action<MembershipOptions>? configure = null)
    {
        private readonly List<Node> _nodes = [];
        private int _port = 21000;

        public InMemoryMembershipTable Table { get; } = new();

        public ManualClock Clock { get; } = new(new DateTimeOffset(2025, 1, 1, 0, 0, 0, TimeSpan.Zero));

        public FakeProber Prober { get; } = new();

        public async Task<Node> AddAsync(SiloStatus status = SiloStatus.Active)
        {
            var options = new MembershipOptions
            {
                // Time only moves when a test advances it, but keep the heartbeat rule out of the way regardless.
                DeathTimeout = TimeSpan.FromHours(1),
                DeathVoteExpiration = Expiration,
            };
            configure?.Invoke(options);
            var local = new LocalSiloDetails(Options.Create(new SiloOptions { SiloName = $"node-{_port}", SiloPort = ++_port }), Clock);
            var agent = new MembershipAgent(Table, local, Options.Create(options), Clock, null, NullLogger<MembershipAgent>.Instance);
            var monitor = new ClusterHealthMonitor(Table, agent, Prober, Options.Create(options), Clock, NullLogger<ClusterHealthMonitor>.Instance);
            var snapshot = await Table.ReadAllAsync(CancellationToken.None);
            var entry = Entry(local.SiloAddress, status) with { StartTime = Clock.GetUtcNow(), IAmAliveTime = Clock.GetUtcNow() };
            Assert.True(await Table.InsertRowAsync(entry, snapshot.Version.Next(), CancellationToken.None));
            var node = new Node(this, agent, monitor);
            _nodes.Add(node);
            return node;
        }

        public async Task SetStatusAsync(Node node, SiloStatus status)
        {
            var snapshot = await Table.ReadAllAsync(CancellationToken.None);
            var (entry, etag) = snapshot.Entries.Single(e => e.Entry.Silo == node.Address);
            Assert.True(await Table.UpdateRowAsync(entry with { Status = status }, etag, snapshot.Version.Next(), CancellationToken.None));
        }

        public async Task<MembershipEntry> RowAsync(Node node) =>
            (await Table.ReadAllAsync(CancellationToken.None)).Entries.Single(e => e.Entry.Silo == node.Address).Entry;
    }

    private sealed class Node(World world, MembershipAgent agent, ClusterHealthMonitor monitor)
    {
        public MembershipAgent Agent { get; } = agent;

        public ClusterHealthMonitor Monitor { get; } = monitor;

        public SiloAddress Address => Agent.LocalSilo;

        /// <summary>Runs probe rounds, each after re-reading the table as the agent's loop would.</summary>
        public async Task RoundsAsync(int rounds, bool refresh = true)
        {
            for (var i = 0; i < rounds; i++)
            {
                if (refresh)
                {
                    await Agent.RefreshAsync(CancellationToken.None);
                }

                await Monitor.ProbeRoundAsync(CancellationToken.None);
                world.Clock.Advance(TimeSpan.FromSeconds(1));
            }
        }
    }

    /// <summary>Fails probes to the silos in <see cref="Down"/> at once, and never answers those in <see cref="Hang"/>.</summary>
    private sealed class FakeProber : ISiloProber
    {
        public ConcurrentDictionary<SiloAddress, byte> Down { get; } = new();

        public ConcurrentDictionary<SiloAddress, byte> Hang { get; } = new();

        public ConcurrentBag<SiloAddress> Probed { get; } = [];

        public Task ProbeAsync(SiloAddress target, CancellationToken cancellationToken)
        {
            Probed.Add(target);
            return Down.ContainsKey(target) ? Task.FromException(new SiloUnavailableException($"{target} is down"))
                : Hang.ContainsKey(target) ? new TaskCompletionSource().Task
                : Task.CompletedTask;
        }
    }

    /// <summary>Moves only when told; timers and delays still run on real time, which these tests keep short.</summary>
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        private long _ticks = start.UtcTicks;

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);

        public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
    }
}
