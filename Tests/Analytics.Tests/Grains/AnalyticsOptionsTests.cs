using Analytics.Events;
using Analytics.Grains;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Analytics.Tests.Grains;

public sealed class AnalyticsOptionsTests
{
    private static ValidateOptionsResult Validate(AnalyticsOptions options) => new AnalyticsOptionsValidator().Validate(null, options);

    private static RetentionTier Tier(string size, string retention) => new(DurationParser.Parse(size), DurationParser.Parse(retention));

    [Fact]
    public void The_defaults_are_valid_and_are_the_documented_tiers()
    {
        var options = new AnalyticsOptions();
        Assert.True(Validate(options).Succeeded);
        Assert.Equal(1024, options.InlineClaims);
        Assert.Equal(["10s buckets for 1h", "1m buckets for 1d", "1h buckets for 30d"], AnalyticsOptions.DefaultMetricTiers.Select(t => t.ToString()));
        Assert.Equal(["1m buckets for 1h", "15m buckets for 1d"], AnalyticsOptions.DefaultSourceTiers.Select(t => t.ToString()));
    }

    [Theory]
    [InlineData("7s", "1h", "4m", "1d", "multiple of the previous tier")]
    [InlineData("10s", "65s", "1m", "1d", "multiple of its BucketSize")]
    [InlineData("10s", "1d", "1m", "1h", "longer than the previous tier")]
    [InlineData("1m", "1h", "10s", "1d", "larger multiple")]
    public void Tiers_must_nest(string size1, string retention1, string size2, string retention2, string message)
    {
        var options = new AnalyticsOptions { MetricTiers = [Tier(size1, retention1), Tier(size2, retention2)] };
        var result = Validate(options);
        Assert.True(result.Failed);
        Assert.Contains(message, result.FailureMessage);
    }

    [Fact]
    public void Other_settings_must_make_sense()
    {
        Assert.Contains("DedupHorizon", Validate(new AnalyticsOptions { DedupHorizon = TimeSpan.Zero }).FailureMessage);
        Assert.Contains("TopKCapacity", Validate(new AnalyticsOptions { TopKCapacity = 0 }).FailureMessage);
        Assert.Contains("DistinctSourceCapacity", Validate(new AnalyticsOptions { DistinctSourceCapacity = 0 }).FailureMessage);
        Assert.Contains("FlushInterval", Validate(new AnalyticsOptions { FlushInterval = TimeSpan.Zero }).FailureMessage);
        Assert.Contains("SourceGroups must be between 1 and 65536, not 0", Validate(new AnalyticsOptions { SourceGroups = 0 }).FailureMessage);
        Assert.Contains("SourceGroups", Validate(new AnalyticsOptions { SourceGroups = 70_000 }).FailureMessage);
        Assert.True(Validate(new AnalyticsOptions { SourceGroups = 1 }).Succeeded);
        Assert.Contains("InlineClaims must be between 0 and 16384, not -1", Validate(new AnalyticsOptions { InlineClaims = -1 }).FailureMessage);
        Assert.Contains("InlineClaims", Validate(new AnalyticsOptions { InlineClaims = 16_385 }).FailureMessage);
        Assert.True(Validate(new AnalyticsOptions { InlineClaims = 0 }).Succeeded);
        Assert.True(Validate(new AnalyticsOptions { InlineClaims = 16_384 }).Succeeded);
        Assert.Contains("CheckpointSettle must not be negative", new Analytics.Streaming.QueueStreamOptions { CheckpointSettle = TimeSpan.FromSeconds(-1) }.Validate());
        Assert.Null(new Analytics.Streaming.QueueStreamOptions { CheckpointSettle = TimeSpan.FromSeconds(5) }.Validate());
    }

    [Fact]
    public void Configuration_replaces_the_default_tiers_instead_of_appending_to_them()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Analytics:MetricTiers:0:BucketSize"] = "00:00:30",
            ["Analytics:MetricTiers:0:Retention"] = "02:00:00",
            ["Analytics:DedupHorizon"] = "00:05:00",
            ["Analytics:InlineClaims"] = "0",
        }).Build();
        var options = new AnalyticsOptions();
        configuration.GetSection(AnalyticsOptions.Section).Bind(options);

        Assert.Equal(["30s buckets for 2h"], options.MetricTiers.Select(t => t.ToString()));
        Assert.Equal(TimeSpan.FromMinutes(5), options.DedupHorizon);
        Assert.Equal(0, options.InlineClaims);
        Assert.True(Validate(options).Succeeded);
    }

    [Fact]
    public async Task A_silo_with_invalid_options_does_not_start()
    {
        var error = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            AnalyticsTestKit.StartAsync(configure: o => o.MetricTiers = [Tier("10s", "1h"), Tier("15s", "1d")]));
        Assert.Contains("MetricTiers[1]", error.Message);
    }
}
