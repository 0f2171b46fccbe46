using Orleans.Concurrency;
using Microsoft.Extensions.Options;

namespace Analytics.Grains.Sources;

/// <summary>
/// A source as a query target. It holds nothing: it runs on the silo that takes the call (a
/// stateless worker) and asks the source's group, which holds the data (<see cref="SourceGroupGrain"/>).
/// So callers keep addressing a source by its name and need not know how sources are grouped.
/// </summary>
[StatelessWorker]
[CollectionAgeLimit(Minutes = 2)]
public sealed class SourceGrain(IOptions<AnalyticsOptions> options) : Grain, ISourceGrain
{
    private readonly int _groups = options.Value.SourceGroups;

    public Task<SourceSummary?> GetSummary(TimeSpan window) => Group.GetSummary(this.GetPrimaryKeyString(), window);

    public Task<SeriesResult?> GetSeries(string metric, long fromMs, long toMs, TimeSpan step) =>
        Group.GetSeries(this.GetPrimaryKeyString(), metric, fromMs, toMs, step);

    private ISourceGroupGrain Group => GrainFactory.GetGrain<ISourceGroupGrain>(SourceGroups.KeyOf(this.GetPrimaryKeyString(), _groups));
}
