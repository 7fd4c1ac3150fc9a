namespace Shop;

/// <summary>An order for some units of a product.</summary>
public sealed record Order(int Id, string Product, int Quantity);

/// <summary>An order with the price it was charged.</summary>
public sealed record PricedOrder(Order Order, decimal Total);
