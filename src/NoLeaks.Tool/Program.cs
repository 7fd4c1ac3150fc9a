using NoLeaks.Reporting;

return ReportCommand.Run(args, Environment.GetEnvironmentVariable, Console.Out, Console.Error);
