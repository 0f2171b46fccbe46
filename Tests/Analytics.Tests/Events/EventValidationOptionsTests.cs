using Analytics.Events;

namespace Analytics.Tests.Events;

public sealed class EventValidationOptionsTests
{
    [Fact]
    public void Defaults_are_the_contract_limits()
    {
        var options = new EventValidationOptions();

        Assert.Equal(TimeSpan.FromMinutes(5), options.MaxFutureSkew);
        Assert.Equal((256, 128, 128, 64, 100),
            (options.MaxSourceBytes, options.MaxMetricLength, options.MaxIdLength, options.MaxValuesPerEvent, options.MaxErrorsListed));
        options.Validate();
    }

    public static TheoryData<Action<EventValidationOptions>, string> Nonsense => new()
    {
        { o => o.MaxFutureSkew = TimeSpan.FromSeconds(-1), nameof(EventValidationOptions.MaxFutureSkew) },
        { o => o.MaxSourceBytes = 0, nameof(EventValidationOptions.MaxSourceBytes) },
        { o => o.MaxMetricLength = -5, nameof(EventValidationOptions.MaxMetricLength) },
        { o => o.MaxIdLength = 0, nameof(EventValidationOptions.MaxIdLength) },
        { o => o.MaxValuesPerEvent = 0, nameof(EventValidationOptions.MaxValuesPerEvent) },
        { o => o.MaxErrorsListed = -1, nameof(EventValidationOptions.MaxErrorsListed) },
    };

    [Theory]
    [MemberData(nameof(Nonsense))]
    public void Nonsense_settings_are_refused(Action<EventValidationOptions> change, string name)
    {
        var options = new EventValidationOptions();
        change(options);

        Assert.Equal(name, Assert.Throws<ArgumentOutOfRangeException>(options.Validate).ParamName);
    }

    [Fact]
    public void Zero_skew_and_zero_listed_errors_are_allowed()
    {
        new EventValidationOptions { MaxFutureSkew = TimeSpan.Zero, MaxErrorsListed = 0 }.Validate();
    }

    [Fact]
    public void Stored_event_options_widen_id_and_skew()
    {
        EventValidationOptions stored = EventValidationOptions.ForStoredEvents(new EventValidationOptions { MaxIdLength = 10, MaxMetricLength = 20 });

        Assert.Equal(31, stored.MaxIdLength);
        Assert.Equal(20, stored.MaxMetricLength);
        Assert.Equal(TimeSpan.MaxValue, stored.MaxFutureSkew);
        stored.Validate();
    }
}
