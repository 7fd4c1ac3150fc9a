return NoLeaks.Fixtures.XunitV2SelfRunner.Run(typeof(NoLeaks.Fixtures.XunitV2SelfRunner).Assembly, args);
