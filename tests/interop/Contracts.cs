// Service and data contracts shared by every peer role (server, client; later: terminals, main cash).
// The shapes imitate iiko front-office order sync: what matters for the decoder is the variety of
// primitive types that DataContractSerializer puts on the wire in .NET Binary XML.
using System;
using System.Collections.Generic;
using System.IO;
using System.Runtime.Serialization;
using System.ServiceModel;
using System.ServiceModel.Channels;

namespace Wirecap.Interop
{
    public static class Ns
    {
        public const string Data = "http://schemas.datacontract.org/2004/07/Wirecap.Interop";
    }

    [DataContract(Namespace = Ns.Data), Serializable]  // Serializable: the Remoting peer sends it too
    public class Table
    {
        [DataMember] public int Num;
        [DataMember] public string Name;
    }

    [DataContract(Namespace = Ns.Data), Serializable]  // Serializable: the Remoting peer sends it too
    public class OrderItem
    {
        [DataMember] public Guid Id;
        [DataMember] public string Product;
        [DataMember] public decimal Amount;
        [DataMember] public decimal Price;
        [DataMember] public bool Deleted;
        [DataMember] public DateTime? PrintTime;
    }

    [DataContract(Namespace = Ns.Data), Serializable]  // Serializable: the Remoting peer sends it too
    public class Order
    {
        [DataMember] public Guid Id;
        [DataMember] public int Number;
        [DataMember] public string Status;
        [DataMember] public DateTime OpenTime;        // DateTimeKind.Utc
        [DataMember] public DateTime LocalChangeTime; // DateTimeKind.Local (TZ=Europe/Moscow, +03:00)
        [DataMember] public string Waiter;
        [DataMember] public int Guests;
        [DataMember] public decimal Sum;
        [DataMember] public decimal DiscountSum;
        [DataMember] public long Revision;
        [DataMember] public double Weight;
        [DataMember] public float Ratio;
        [DataMember] public TimeSpan CookingTime;
        [DataMember] public byte[] Signature;
        [DataMember] public string Comment;           // sometimes null, sometimes very long
        [DataMember] public List<OrderItem> Items;
        [DataMember] public List<Table> Tables;
    }

    [DataContract(Namespace = Ns.Data), Serializable]  // Serializable: the Remoting peer sends it too
    public class SaveResult
    {
        [DataMember] public Guid OrderId;
        [DataMember] public long Revision;
        [DataMember] public DateTime SavedAt;
        [DataMember] public int ItemCount;
    }

    [DataContract(Namespace = Ns.Data), Serializable]  // Serializable: the Remoting peer sends it too
    public class TerminalStats
    {
        [DataMember] public double AverageCheck;
        [DataMember] public float Load;
        [DataMember] public long TotalTicks;
        [DataMember] public TimeSpan Uptime;
        [DataMember] public ulong Counter;
        [DataMember] public short Shift;
        [DataMember] public byte Flags;
        [DataMember] public sbyte Delta;
        [DataMember] public Uri Endpoint;
        [DataMember] public int[] OpenNumbers;
        [DataMember] public List<string> Tags;
    }

    [DataContract(Namespace = Ns.Data), Serializable]  // Serializable: the Remoting peer sends it too
    public class OrderFault
    {
        [DataMember] public Guid OrderId;
        [DataMember] public string Reason;
    }

    // Buffered duplex session: the everyday terminal <-> terminal order sync.
    [ServiceContract(SessionMode = SessionMode.Required)]
    public interface IOrderSync
    {
        [OperationContract] SaveResult SaveOrder(Order order);
        [OperationContract] Order GetOrder(Guid id);
        [OperationContract] TerminalStats GetStats(string terminal, DateTime since);
        [OperationContract] byte[] Echo(byte[] data, bool reverse);
        [OperationContract] decimal Total(decimal[] sums);
        [OperationContract] string Hello(string name);
        [OperationContract] [FaultContract(typeof(OrderFault))] void DeleteOrder(Guid id, string reason);
        [OperationContract(IsOneWay = true)] void Ping(string terminal, long seq);
        [OperationContract(IsOneWay = true)] void NotifyChanged(Guid orderId, int revision, DateTime at);
    }

    // Streamed transfer: bodies that are raw streams or untyped messages.
    [ServiceContract]
    public interface IBlobStore
    {
        [OperationContract] long Upload(Stream data);
        [OperationContract] Stream Download(string name);
        [OperationContract(Action = "urn:wirecap/Raw", ReplyAction = "urn:wirecap/RawReply")]
        Message Raw(Message request);
    }

    // Duplex callback: the service calls the client back over the same session.
    [ServiceContract(SessionMode = SessionMode.Required, CallbackContract = typeof(IOrderEvents))]
    public interface IOrderWatch
    {
        [OperationContract] int Subscribe(string terminal, int count);
        [OperationContract(IsOneWay = true)] void Touch(Guid orderId);
    }

    public interface IOrderEvents
    {
        [OperationContract(IsOneWay = true)] void OrderChanged(Guid orderId, int revision, string status);
        [OperationContract] string Confirm(int seq);
    }
}
