using NoLeaks.NUnit;

[assembly: NoTaskLeaks]                     // or on a fixture or a test; [AllowTaskLeaks("why")] opts out
