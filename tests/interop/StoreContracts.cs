// The store: a main cash terminal (WCF service) that holds the open orders, and terminals that lock,
// change and sync whole orders with it over one duplex session each. Field names are the ones iikoFront's
// order model uses (Id, Number, Status, Tables, Waiter, Guests, SyncRevision, LastChangedTerminalId,
// Items with Product, Amount, Price, Printed, PrintTime, Deleted, DelMethod, Course...); the contract
// names and operations are modelled (iiko does not publish its terminal sync contracts); the data
// contracts keep the default namespace, http://schemas.datacontract.org/2004/07/Wirecap.Interop.Store.
using System;
using System.Collections.Generic;
using System.Runtime.Remoting.Messaging;
using System.Runtime.Serialization;
using System.ServiceModel;

namespace Wirecap.Interop.Store
{
    [DataContract, Serializable]  // Serializable: the Remoting store sends it too
    public class Table
    {
        [DataMember] public int Num;
        [DataMember] public string Name;
        [DataMember] public Guid Id;
    }

    [DataContract, Serializable]  // Serializable: the Remoting store sends it too
    public class OrderItem
    {
        [DataMember] public Guid Id;
        [DataMember] public string Product;
        [DataMember] public Guid ProductId;
        [DataMember] public decimal Amount;
        [DataMember] public decimal Price;
        [DataMember] public int Guest;
        [DataMember] public bool Printed;
        [DataMember] public DateTime? PrintTime;  // UTC
        [DataMember] public bool Deleted;
        [DataMember] public string DelMethod;     // null unless deleted
        [DataMember] public int Course;
        [DataMember] public string Comment;
    }

    [DataContract, Serializable]  // Serializable: the Remoting store sends it too
    public class Order
    {
        [DataMember] public Guid Id;
        [DataMember] public int Number;
        [DataMember] public string Status;         // NEW, BILL, CLOSED, DELETED
        [DataMember] public DateTime OpenTime;     // UTC
        [DataMember] public List<Table> Tables;
        [DataMember] public string Waiter;
        [DataMember] public int Guests;
        [DataMember] public long SyncRevision;     // the revision this copy is (main cash accepts stored + 1)
        [DataMember] public string LastChangedTerminalId;
        [DataMember] public List<OrderItem> Items;
    }

    // A terminal's session with the main cash. Register first; lock an order before changing it.
    [ServiceContract(SessionMode = SessionMode.Required, CallbackContract = typeof(ITerminalEvents))]
    public interface IMainCash
    {
        [OperationContract] List<Order> Register(string terminalId, string name);
        [OperationContract] bool LockOrder(Guid orderId, string terminalId);
        [OperationContract] void UnlockOrder(Guid orderId, string terminalId);
        [OperationContract] long SyncOrder(Order order);
    }

    // What the main cash pushes to the other terminals (one-way in WCF and in Remoting alike).
    public interface ITerminalEvents
    {
        [OperationContract(IsOneWay = true), OneWay] void OrderLocked(Guid orderId, string terminalId);
        [OperationContract(IsOneWay = true), OneWay] void OrderUnlocked(Guid orderId, string terminalId);
        [OperationContract(IsOneWay = true), OneWay] void OrderChanged(Order order);
    }
}
