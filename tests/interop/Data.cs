// Deterministic sample data: same ids, names and sums on every run, so captures are comparable.
using System;
using System.Collections.Generic;
using System.Text;

namespace Wirecap.Interop
{
    public static class Data
    {
        static readonly string[] Dishes = { "Борщ", "Пельмени", "Салат «Оливье»", "Чай", "Kompot", "Блины с икрой" };
        static readonly string[] Statuses = { "New", "Bill", "Closed", "Deleted" };

        // A random-looking (not sequential) v4 GUID, so Guid byte-order mistakes in a decoder show.
        public static Guid Id(int n)
        {
            var b = new byte[16];
            new Random(n * 7919 + 17).NextBytes(b);
            b[7] = (byte)((b[7] & 0x0F) | 0x40);
            b[8] = (byte)((b[8] & 0x3F) | 0x80);
            return new Guid(b);
        }

        public static byte[] Blob(string name, int size)
        {
            var b = new byte[size];
            int seed = 0;
            foreach (char ch in name) seed = seed * 31 + ch;  // not GetHashCode: that may vary per runtime
            new Random(seed).NextBytes(b);
            return b;
        }

        // The local "now" of every order: a fixed wall-clock time in TZ (Europe/Moscow => +03:00).
        public static DateTime Local(int minutes)
        {
            return new DateTime(2026, 11, 29, 12, 0, 0, DateTimeKind.Local).AddMinutes(minutes).AddTicks(1234567);
        }

        public static Order Order(int n, int items)
        {
            var o = new Order
            {
                Id = Id(n), Number = 1000 + n, Status = Statuses[n % Statuses.Length],
                OpenTime = new DateTime(2026, 11, 29, 8, 15, 30, DateTimeKind.Utc).AddMinutes(n).AddTicks(n * 10001),
                LocalChangeTime = Local(n), Waiter = n % 3 == 0 ? "Иванов Пётр" : "Smith, John",
                Guests = n % 5, Revision = 5000000000L + n,
                Weight = n == 1 ? 0.1 : 1.5 * n, Ratio = n == 2 ? 0.1f : 0.25f * n,
                CookingTime = TimeSpan.FromSeconds(90 * n + 0.5),
                Signature = n % 4 == 0 ? null : Encoding.UTF8.GetBytes("sig-" + n),
                Comment = Comment(n, items),
                Items = new List<OrderItem>(), Tables = new List<Table>(),
            };
            decimal sum = 0m;
            for (int i = 0; i < items; i++)
            {
                var item = new OrderItem
                {
                    Id = Id(n * 100000 + i), Product = Dishes[(n + i) % Dishes.Length],
                    Amount = i % 3 == 0 ? 1.000m : 0.5m * (i % 7 + 1), Price = i % 2 == 0 ? 123.450m : 0.10m,
                    Deleted = i % 5 == 4,
                    PrintTime = i % 3 == 1 ? (DateTime?)null
                        : new DateTime(2026, 11, 29, 9, 0, 0, DateTimeKind.Utc).AddSeconds(i),
                };
                if (!item.Deleted) sum += item.Amount * item.Price;
                o.Items.Add(item);
            }
            o.Sum = sum;
            o.DiscountSum = n % 2 == 0 ? 0m : -10.00m;
            for (int t = 0; t <= n % 3; t++) o.Tables.Add(new Table { Num = n + t, Name = "Зал " + (t + 1) });
            return o;
        }

        static string Comment(int n, int items)
        {
            switch (n % 4)
            {
                case 0: return null;
                case 1: return "";
                case 2: return "кавычки \" и \\ слэш,\nперевод строки,\tтаб, <xml> & амперсанд, emoji \U0001F35C";
                default: return "Без лука";
            }
        }
    }
}
